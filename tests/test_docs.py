"""The documentation cannot rot: every example in README.md and docs/ runs against the server it names, prints what
the page says it prints, and the site builds strictly.

Examples connect to ``localhost:8765``, where a reader runs ``wsdat demo --serve 8765``; here the same server runs on a
free port, and ``:8765`` in examples and outputs becomes that port. Two kinds of example run:

- every ```` ```python ```` block, as a script;
- every ```` ```console ```` block, a terminal transcript: lines starting with ``$ `` are commands (run by bash, one
  shell per block, so ``echo $?`` reads the previous command's status), the lines after a command are what it prints
  (stdout and stderr, as the terminal shows them).

A python block followed directly by a ```` ```text title="Output" ```` block must print exactly that. In expected
output, ``...`` inside a line stands for any text, and a line that is only ``...`` for any number of lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
OUTPUT_ATTRS = 'title="Output"'
DOC_PORT = ":8765"
ANY_LINES = "..."
BIN = str(Path(sys.executable).parent)


@dataclass(frozen=True)
class Example:
    where: str
    language: str
    code: str
    output: str | None  # what it prints, when the page says so


def examples(language: str) -> list[Example]:
    found = []
    for path in DOCS:
        text = path.read_text()
        fences = list(FENCE.finditer(text))
        for number, fence in enumerate(fences):
            if fence["lang"] != language:
                continue
            output = None
            after = fences[number + 1] if number + 1 < len(fences) else None
            if after is not None and after["lang"] == "text" and OUTPUT_ATTRS in after["attrs"] \
                    and not text[fence.end():after.start()].strip():
                output = after["body"]
            found.append(Example(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, fence.start()) + 1}", language,
                                 fence["body"], output))
    return found


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """``actual`` fits ``expected``: ``...`` in a line is any text, a line of ``...`` alone any lines."""
    if not expected:
        return not actual
    first, rest = expected[0], expected[1:]
    if first.strip() == ANY_LINES:
        return any(lines_match(rest, actual[skip:]) for skip in range(len(actual) + 1))
    pattern = ".*".join(re.escape(part) for part in first.split(ANY_LINES))
    return bool(actual) and re.fullmatch(pattern, actual[0]) is not None and lines_match(rest, actual[1:])


def assert_prints(where: str, expected: str, actual: str) -> None:
    wanted = expected.rstrip("\n").split("\n") if expected.strip() else []
    got = actual.rstrip("\n").split("\n") if actual.strip() else []
    assert lines_match(wanted, got), f"{where} printed:\n{actual}\nwhile the page says:\n{expected}"


@dataclass
class DemoServer:
    port: int

    def adapt(self, text: str) -> str:
        return text.replace(DOC_PORT, f":{self.port}")


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    """``wsdat demo --serve``: the server the documentation tells readers to run."""
    process = subprocess.Popen([sys.executable, "-m", "wsdat_core", "demo", "--serve", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"serving ws://127\.0\.0\.1:(\d+)/", line)
    if found is None:
        process.kill()
        raise RuntimeError(f"wsdat demo --serve did not start: {line!r}")
    yield DemoServer(int(found.group(1)))
    process.terminate()
    process.wait(10)
    process.stdout.close()


PYTHON = examples("python")
CONSOLE = examples("console")


@pytest.mark.parametrize("example", PYTHON, ids=[example.where for example in PYTHON])
def test_python_example_runs_and_prints_what_the_page_says(example: Example, demo_server: DemoServer,
                                                           tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(demo_server.adapt(example.code))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, f"{example.where} failed:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    if example.output is not None:
        assert_prints(example.where, demo_server.adapt(example.output), done.stdout)


def transcript(code: str) -> list[tuple[str, str]]:
    """``(command, what it prints)`` of each ``$ `` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in code.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"a console block must start with a '$ ' command: {line!r}"
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


@pytest.mark.parametrize("example", CONSOLE, ids=[example.where for example in CONSOLE])
def test_console_example_prints_what_the_page_says(example: Example, demo_server: DemoServer,
                                                   tmp_path: Path) -> None:
    steps = transcript(demo_server.adapt(example.code))
    marker = "\x1e-- next command --"
    script = ["status=0"]
    for command, _ in steps:  # each command sees the previous one's $?, as in an interactive shell
        script.append(f"printf '%s\\n' '{marker}'; (exit $status); {{ {command}\n}} 2>&1; status=$?")
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], "NO_COLOR": "1"}
    done = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    printed = done.stdout.split(marker + "\n")[1:]
    assert len(printed) == len(steps), done.stdout + done.stderr
    for (command, expected), actual in zip(steps, printed, strict=True):
        assert_prints(f"{example.where}: $ {command}", expected, actual)


def test_the_matcher_takes_wildcards_and_refuses_differences() -> None:
    assert lines_match(["a ... c", "...", "z"], ["a bb c", "x", "y", "z"])
    assert lines_match(["...", "z"], ["z"])
    assert not lines_match(["a ... c"], ["a bb d"])
    assert not lines_match(["a", "b"], ["a"])
    assert not lines_match(["a"], ["a", "extra"])


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


async def test_porting_sample_runs_unchanged_as_a_callbacks_file(demo_server: DemoServer, tmp_path: Path) -> None:
    import trio

    from wsdat_core import WebSocketDAT
    from wsdat_core.faces.testing import wait_until

    td_sample = examples("python")
    porting = next(example for example in td_sample if example.where.startswith("docs/porting.md"))
    callbacks = tmp_path / "websocket1_callbacks.py"
    callbacks.write_text(porting.code)
    dat = WebSocketDAT(netaddress=f"ws://127.0.0.1:{demo_server.port}/", callbacks=[str(callbacks)])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)
        await wait_until(lambda: dat.fetch("last", None) is not None)  # the echo of onConnect's subscription
        nursery.cancel_scope.cancel()
    assert dat.fetch("last") == '{"subscribe": "prices"}'
