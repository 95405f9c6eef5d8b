"""wsdat new-plugin: scaffold -> install -> its own test passes -> listed -> runs from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WSDAT = [sys.executable, "-m", "wsdat_core"]


def run(*args: str, env: dict[str, str] | None = None, stdin: str = "", cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, input=stdin, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def install_and_test(package: Path, tmp_path: Path) -> dict[str, str]:
    """Install ``package`` as a third party would, into a folder of its own (the project's venv stays untouched), and
    run its own test there; returns the environment that sees it."""
    site = tmp_path / "site"
    done = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "--target", str(site), str(package))
    assert done.returncode == 0, done.stderr
    env = {"PYTHONPATH": str(site)}
    done = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"), env=env,
               cwd=package)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    return env


def test_scaffolded_plugin_installs_tests_lists_and_runs(tmp_path: Path, independent_server) -> None:
    done = run(*WSDAT, "new-plugin", "shout", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    package = tmp_path / "wsdat-shout"
    assert sorted(p.name for p in package.iterdir()) == ["README.md", "pyproject.toml", "tests", "wsdat_shout.py"]
    module = (package / "wsdat_shout.py").read_text()
    for hook in ("onConnect", "onDisconnect", "onReceiveText", "onReceiveBinary", "onReceivePing", "onReceivePong",
                 "onMonitorMessage"):
        assert f"def {hook}(" in module

    env = install_and_test(package, tmp_path)

    done = run(*WSDAT, "plugins", "--json", env=env)
    plugins = {p["name"]: p for p in json.loads(done.stdout)}
    assert plugins["shout"]["distribution"] == "wsdat-shout"
    assert "onReceiveText" in plugins["shout"]["hooks"]

    done = run(*WSDAT, "connect", independent_server.url, "--callbacks", "shout", "--count", "1", env=env,
               stdin="from the scaffold\n", timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the scaffold"


def test_new_plugin_refuses_bad_names_and_existing_folders(tmp_path: Path) -> None:
    done = run(*WSDAT, "new-plugin", "Bad Name", "--dir", str(tmp_path))
    assert done.returncode == 2 and done.stderr.startswith("wsdat: error: NAME: 'Bad Name' is not allowed")
    assert run(*WSDAT, "new-plugin", "ok", "--dir", str(tmp_path)).returncode == 0
    again = run(*WSDAT, "new-plugin", "ok", "--dir", str(tmp_path))
    assert again.returncode == 2 and "exists" in again.stderr
