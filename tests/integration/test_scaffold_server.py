"""wsdat new-plugin --server: scaffold -> install -> its own test passes -> listed with the server's hooks -> runs
behind ``wsdat serve``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import websockets.sync.client

from .test_scaffold import WSDAT, run
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

    site = tmp_path / "site"
    done = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "--target", str(site), str(package))
    assert done.returncode == 0, done.stderr
    env = {"PYTHONPATH": str(site)}
    done = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"), env=env,
               cwd=package)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout

    plugins = {p["name"]: p for p in json.loads(run(*WSDAT, "plugins", "--json", env=env).stdout)}
    assert set(plugins["greeter"]["hooks"]) == {"onServerStart", "onServerStop", "onHTTPRequest", "onWebSocketOpen",
                                                "onWebSocketClose", "onWebSocketReceiveText",
                                                "onWebSocketReceiveBinary", "onWebSocketReceivePing",
                                                "onWebSocketReceivePong", "onMonitorMessage"}

    with serving("--callbacks", "greeter", env=env) as server, websockets.sync.client.connect(server.url) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "echo: hi"
