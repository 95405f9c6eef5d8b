"""wsdat new-plugin --server: scaffold -> install -> its own test passes -> listed with the server's hooks -> runs
behind ``wsdat serve``."""

from __future__ import annotations

import json
from pathlib import Path

import websockets.sync.client

from .test_scaffold import WSDAT, install_and_test, run
from .test_serve import serving


def test_a_scaffolded_server_plugin_installs_tests_lists_and_serves(tmp_path: Path) -> None:
    done = run(*WSDAT, "new-plugin", "greeter", "--server", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    package = tmp_path / "wsdat-greeter"
    module = (package / "wsdat_greeter.py").read_text()
    for hook in ("onServerStart", "onServerStop", "onHTTPRequest", "onWebSocketOpen", "onWebSocketClose",
                 "onWebSocketReceiveText", "onWebSocketReceiveBinary", "onWebSocketReceivePing",
                 "onWebSocketReceivePong", "onMonitorMessage"):
        assert f"def {hook}(" in module
    assert "wsdat serve 8765 --callbacks greeter" in (package / "README.md").read_text()

    env = install_and_test(package, tmp_path)

    plugins = {p["name"]: p for p in json.loads(run(*WSDAT, "plugins", "--json", env=env).stdout)}
    assert set(plugins["greeter"]["hooks"]) == {"onServerStart", "onServerStop", "onHTTPRequest", "onWebSocketOpen",
                                                "onWebSocketClose", "onWebSocketReceiveText",
                                                "onWebSocketReceiveBinary", "onWebSocketReceivePing",
                                                "onWebSocketReceivePong", "onMonitorMessage"}

    with serving("--callbacks", "greeter", env=env) as server, websockets.sync.client.connect(server.url) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "echo: hi"
