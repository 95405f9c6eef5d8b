"""The layers import downwards only: faces -> runtime -> net -> protocol -> host/model, and the pure parts do no I/O.

``model``, ``host`` and ``protocol`` import neither trio nor sockets nor anything that reads files or starts processes
at their own level (the host loads callbacks files through the standard import machinery only); the protocol imports
nothing from the runtime, the driver nothing from the session.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "wsdat_core"
#: Each layer and the layers it may import from (its own included).
ALLOWED = {
    "model": {"model"},
    "host": {"host", "model"},
    "protocol": {"protocol", "model"},
    "net": {"net", "protocol", "model"},
    "runtime": {"runtime", "net", "protocol", "host", "model"},
    "faces": {"faces", "runtime", "net", "protocol", "host", "model", "http"},
    "http": {"http", "runtime", "host", "model"},
}
NETWORK = {"trio", "trio_websocket", "wsproto", "socket", "ssl", "asyncio", "selectors", "python_socks"}
PROCESS_AND_FILES = {"subprocess", "shutil", "tempfile", "signal", "multiprocessing", "threading", "pathlib"}
PURE = {"model": NETWORK | PROCESS_AND_FILES, "protocol": NETWORK | PROCESS_AND_FILES, "host": NETWORK}
#: Calls that do I/O, refused in the model and the protocol.
IO_CALLS = {"open", "print", "input"}


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """``(top-level packages imported, wsdat_core layers imported)`` of one module."""
    tree = ast.parse(path.read_text())
    absolute: set[str] = set()
    layers: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                absolute.add(node.module.split(".")[0])
            elif node.level == 1:
                layers.add(path.parent.name)
            elif node.level == 2:
                if node.module:
                    layers.add(node.module.split(".")[0])
                else:
                    layers |= {alias.name for alias in node.names}
    return absolute, layers


def test_every_module_is_in_a_layer() -> None:
    loose = {path.name for path in PACKAGE.glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "_version.py"}
    assert {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()} \
        == set(ALLOWED)


def test_layers_import_downwards_only() -> None:
    for layer, allowed in ALLOWED.items():
        for path in _modules(layer):
            _, layers = _imports(path)
            layers.discard("_version")
            assert layers <= allowed, f"{layer}/{path.name} imports {sorted(layers - allowed)}"


def test_pure_layers_do_no_io() -> None:
    for layer, refused in PURE.items():
        for path in _modules(layer):
            absolute, _ = _imports(path)
            assert not absolute & refused, f"{layer}/{path.name} imports {sorted(absolute & refused)}"
            if layer == "host":
                continue
            called = {node.func.id for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
            assert not called & IO_CALLS, f"{layer}/{path.name} calls {sorted(called & IO_CALLS)}"


def test_importing_the_pure_layers_loads_no_trio() -> None:
    names = [f"wsdat_core.{layer}.{path.stem}" for layer in PURE for path in _modules(layer)
             if path.stem != "__init__"]
    code = ("import sys, wsdat_core, " + ", ".join(names)
            + "; print(sorted(m for m in ('trio', 'trio_websocket', 'wsproto', 'python_socks') "
              "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_earlier_import_paths_name_the_same_modules() -> None:
    import wsdat_core.events
    import wsdat_core.testing

    import wsdat_core.model.events

    assert wsdat_core.events is wsdat_core.model.events
    assert wsdat_core.testing.wait_until is wsdat_core.faces.testing.wait_until
