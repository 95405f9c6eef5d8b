"""``wsdat new-plugin NAME``: a ready plugin package, installable like any third-party one.

It writes ``wsdat-NAME/`` with a ``pyproject.toml`` declaring the entry point ``NAME`` in group ``wsdat``, a hook module
documenting TouchDesigner's seven callbacks, a README and a test that uses wsdat's pytest fixtures. With ``--server``
the hook module holds the Web Server DAT's callbacks instead, and its test runs a server with a real client.
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

_SERVER_MODULE = '''"""wsdat plugin {name}: TouchDesigner's Web Server DAT callbacks.

Each function is optional and may take any subset of its arguments (matched by name: they are marked @hookimpl).
``webServerDAT`` is the Web Server DAT: ``webServerDAT.webSocketSendText(client, data)``,
``webServerDAT.broadcastText(data)``, ``webServerDAT.webSocketConnections``, ``webServerDAT[r, c]``,
``webServerDAT.par``, ``webServerDAT.info``, ``webServerDAT.store(key, value)``. ``client`` is one WebSocket
connection (a str, ``"127.0.0.1:52814"``, usable as a dict key). Functions may be ``async def``. The hooks and their
arguments: wsdat_core/host/serverspecs.py.
"""

from wsdat_core import hookimpl


@hookimpl
def onServerStart(webServerDAT):
    """The server listens (webServerDAT.url says where)."""


@hookimpl
def onServerStop(webServerDAT):
    """The server stopped listening."""


@hookimpl
def onHTTPRequest(webServerDAT, request, response):
    """A plain HTTP request: fill in the response and return it."""
    response["statusCode"] = 200
    response["statusReason"] = "OK"
    response["Content-Type"] = "text/plain"
    response["data"] = "{name} answers " + request["uri"]
    return response


@hookimpl
def onWebSocketOpen(webServerDAT, client, uri):
    """A WebSocket client connected to the path ``uri``."""


@hookimpl
def onWebSocketClose(webServerDAT, client):
    """The client's connection ended."""


@hookimpl
def onWebSocketReceiveText(webServerDAT, client, data):
    """A text message from the client."""
    webServerDAT.store("{name}.last", data)
    webServerDAT.webSocketSendText(client, "echo: " + data)


@hookimpl
def onWebSocketReceiveBinary(webServerDAT, client, data):
    """A binary message from the client."""


@hookimpl
def onWebSocketReceivePing(webServerDAT, client, data):
    """The client pinged; the server answers with one pong after this hook (unless it called
    webServerDAT.webSocketSendPong(client, data) itself)."""


@hookimpl
def onWebSocketReceivePong(webServerDAT, client, data):
    """A pong arrived (an answer to webSocketSendPing or to a keepalive ping)."""


@hookimpl
def onMonitorMessage(dat, message):
    """A status or error line of the server."""
'''

_SERVER_TEST = '''"""Tests for wsdat-{name}: a Web Server DAT with the plugin, a real WebSocket client on loopback."""

from trio_websocket import open_websocket_url

from wsdat_core import open_server


async def test_echoes_and_keeps_the_last_message():
    async with open_server(port=0, callbacks=["{name}"]) as server:
        async with open_websocket_url(server.url) as ws:
            await ws.send_message("hello")
            assert await ws.get_message() == "echo: hello"
        assert server.fetch("{name}.last") == "hello"
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

_SERVER_README = '''# wsdat-{name}

A [wsdat](https://pypi.org/project/wsdat/) plugin for the Web Server DAT.

```
pip install -e .             # installs the entry point "{name}" in group "wsdat"
pytest                       # runs its tests with a server and a client on loopback
wsdat plugins                # lists it
wsdat serve 8765 --callbacks {name}
```

Edit `{module}.py`: its functions are TouchDesigner's Web Server DAT callbacks.
'''


def new_plugin(name: str, directory: Path, *, server: bool = False) -> Path:
    """Write the package ``wsdat-NAME`` under ``directory`` (``server``: a Web Server DAT plugin); returns its
    folder. Never overwrites."""
    if not _NAME.match(name):
        raise ParameterError("NAME", name, "lower-case letters, digits, '-' or '_', starting with a letter")
    module = "wsdat_" + name.replace("-", "_")
    root = directory / f"wsdat-{name}"
    if root.exists():
        raise ParameterError("NAME", name, f"a name whose folder does not exist yet ({root} exists)")
    values = {"name": name, "module": module, "version": __version__}
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / f"{module}.py": _SERVER_MODULE if server else _MODULE,
        root / "tests" / f"test_{module}.py": _SERVER_TEST if server else _TEST,
        root / "README.md": _SERVER_README if server else _README,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
