"""The documentation cannot rot: every Python sample in README.md and docs/ runs, and the site builds strictly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def samples() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for number, match in enumerate(FENCE.finditer(path.read_text()), 1):
            found.append((f"{path.relative_to(ROOT)}#{number}", match.group(1)))
    return found


@pytest.mark.parametrize(("where", "code"), samples(), ids=[where for where, _ in samples()])
def test_python_sample_runs(where: str, code: str, independent_server, tmp_path: Path) -> None:
    code = code.replace("localhost:8765", f"127.0.0.1:{independent_server.port}")
    script = tmp_path / "sample.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"
    assert "Traceback" not in done.stderr


def test_every_parameter_is_documented() -> None:
    from wsdat_core.model.params import SPECS, parameters_markdown

    table = parameters_markdown()
    assert all(f"`{name}`" in table for name in SPECS)
    assert "{{ parameters }}" in (ROOT / "docs" / "dat-model.md").read_text()


def test_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "hooks" / "index.html").read_text().count("onReceiveText") >= 2


async def test_porting_sample_runs_unchanged_as_a_callbacks_file(independent_server, tmp_path: Path) -> None:
    import trio

    from wsdat_core import WebSocketDAT
    from wsdat_core.faces.testing import wait_until

    td_sample = FENCE.findall((ROOT / "docs" / "porting.md").read_text())[0]
    callbacks = tmp_path / "websocket1_callbacks.py"
    callbacks.write_text(td_sample)
    dat = WebSocketDAT(netaddress=independent_server.url, callbacks=[str(callbacks)])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)
        await wait_until(lambda: dat.fetch("last", None) is not None)  # the echo of onConnect's subscription
        nursery.cancel_scope.cancel()
    assert dat.fetch("last") == '{"subscribe": "prices"}'


def test_the_cli_page_error_example_prints_what_it_shows() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    example = page[page.index("$ wsdat connect ws://localhost:1"):].splitlines()
    shown = example[1]
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "connect", "ws://localhost:1"], capture_output=True,
                          text=True, timeout=30)
    assert done.stderr.strip() == shown
    assert str(done.returncode) == example[3]
