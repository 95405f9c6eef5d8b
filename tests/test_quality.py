"""The code stays ruff-clean and mypy --strict clean (the design card's rule), checked with every test run."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(tool, path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"{tool} is not installed in this environment")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=240)


def test_ruff_is_clean() -> None:
    done = run("ruff", "check", "wsdat_core", "tests", "plugins", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean_on_the_package() -> None:
    done = run("mypy", "--strict", "wsdat_core")
    assert done.returncode == 0, done.stdout + done.stderr
