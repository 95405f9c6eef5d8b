"""The pure core (parameters, URL rules, table, info, hooks, plugin host) imports neither trio nor sockets."""

import ast
import subprocess
import sys
from pathlib import Path

PURE = ["params", "address", "table", "info", "hookspecs", "callbacks", "backoff", "errors", "events", "closing",
        "framing", "proxy", "sanitize", "tdglobals"]
PACKAGE = Path(__file__).parent.parent / "wsdat_core"
NETWORK = {"trio", "trio_websocket", "wsproto", "socket", "ssl", "asyncio", "selectors"}


def test_pure_modules_import_no_network_or_trio() -> None:
    for name in PURE:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert not imported & NETWORK, f"{name}.py imports {imported & NETWORK}"


def test_importing_the_core_loads_no_trio() -> None:
    code = ("import sys, wsdat_core, " + ", ".join(f"wsdat_core.{m}" for m in PURE)
            + "; print(sorted(m for m in ('trio', 'trio_websocket', 'wsproto') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
