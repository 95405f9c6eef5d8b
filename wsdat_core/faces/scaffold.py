"""``wsdat new-plugin NAME``: a ready plugin package, installable like any third-party one.

It writes ``wsdat-NAME/`` with a ``pyproject.toml`` declaring the entry point ``NAME`` in group ``wsdat``, a hook module
documenting TouchDesigner's seven callbacks, a README and a test that uses wsdat's pytest fixtures.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._version import __version__
from ..model.errors import ParameterError

__all__ = ["new_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

_PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "wsdat-{name}"
version = "0.1.0"
description = "A wsdat plugin: {name}"
requires-python = ">=3.11"
dependencies = ["wsdat>={version}"]

[project.optional-dependencies]
test = ["pytest", "pytest-trio"]

# The entry point makes the plugin usable by name: callbacks=["{name}"], wsdat connect URL --callbacks {name}
[project.entry-points.wsdat]
{name} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]

[tool.pytest.ini_options]
trio_mode = true
'''

_MODULE = '''"""wsdat plugin {name}: TouchDesigner's WebSocket DAT callbacks.

Each function is optional and may take any subset of its arguments (matched by name). ``dat`` is the WebSocket
DAT: ``dat.sendText(...)``, ``dat[r, c]``, ``dat.par``, ``dat.info``, ``dat.store(key, value)``,
``dat.fetch(key, default)``. ``me`` is what the DAT's Execute-from parameter chooses. Functions may be ``async def``.
"""

from wsdat_core import hookimpl


@hookimpl
def onConnect(dat):
    """The connection is open."""


@hookimpl
def onDisconnect(dat):
    """The connection ended."""


@hookimpl
def onReceiveText(dat, rowIndex, message):
    """A text message arrived and is in row ``rowIndex`` of the table."""
    dat.store("{name}.last", message)


@hookimpl
def onReceiveBinary(dat, contents):
    """A binary message arrived."""


@hookimpl
def onReceivePing(dat, contents):
    """The server pinged: wsdat answers with a pong right after this hook, unless the hook answered it with
    dat.sendPong(contents) itself (the server gets exactly one pong; parameter autopong)."""


@hookimpl
def onReceivePong(dat, contents):
    """A pong arrived (an answer to dat.sendPing or to a keepalive ping)."""


@hookimpl
def onMonitorMessage(dat, message):
    """A status or error line of the DAT."""
'''

_TEST = '''"""Tests for wsdat-{name}, against a real WebSocket server on loopback (wsdat's pytest fixtures)."""

from wsdat_core.faces.testing import wait_for_rows


async def test_keeps_the_last_message(ws_server, dat_factory):
    dat = await dat_factory(callbacks=["{name}"])
    await ws_server.send_text("hello")
    await wait_for_rows(dat, 1)
    assert dat.fetch("{name}.last") == "hello"
'''

_README = '''# wsdat-{name}

A [wsdat](https://pypi.org/project/wsdat/) plugin.

```
pip install -e .             # installs the entry point "{name}" in group "wsdat"
pytest                       # runs its tests against a loopback server
wsdat plugins                # lists it
wsdat connect ws://localhost:8765 --callbacks {name}
```

Edit `{module}.py`: its functions are TouchDesigner's WebSocket DAT callbacks.
'''


def new_plugin(name: str, directory: Path) -> Path:
    """Write the package ``wsdat-NAME`` under ``directory``; returns its folder. Never overwrites."""
    if not _NAME.match(name):
        raise ParameterError("NAME", name, "lower-case letters, digits, '-' or '_', starting with a letter")
    module = "wsdat_" + name.replace("-", "_")
    root = directory / f"wsdat-{name}"
    if root.exists():
        raise ParameterError("NAME", name, f"a name whose folder does not exist yet ({root} exists)")
    values = {"name": name, "module": module, "version": __version__}
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / f"{module}.py": _MODULE,
        root / "tests" / f"test_{module}.py": _TEST,
        root / "README.md": _README,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
