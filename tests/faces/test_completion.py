"""``wsdat completion SHELL``: each script loaded into the real shell, which is then asked what Tab offers.

bash through its completion variables (``COMP_WORDS``), fish through ``complete -C``, zsh through a real terminal
(tmux: zsh's completion system only runs in an interactive line editor). A shell that is not installed skips its
test, except under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faces.terminal import Terminal, unavailable

WSDAT = [sys.executable, "-m", "wsdat_core"]
BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}


def script(shell: str, tmp_path: Path) -> Path:
    done = subprocess.run([*WSDAT, "completion", shell], capture_output=True, text=True, timeout=30, check=True)
    path = tmp_path / f"wsdat.{shell}"
    path.write_text(done.stdout)
    return path


def need(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        unavailable(f"{program} is not installed")
    assert found is not None
    return found


def bash_offers(completion: Path, *words: str, cwd: Path) -> list[str]:
    """What bash's Tab offers for the command line ``words`` (the last one being completed)."""
    quoted = " ".join(f"'{word}'" for word in words)
    program = (f"source '{completion}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _wsdat; "
               "printf '%s\\n' \"${COMPREPLY[@]}\"")
    done = subprocess.run([need("bash"), "-c", program], capture_output=True, text=True, timeout=30, env=ENV,
                          cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_flags_values_plugins_and_files(tmp_path: Path) -> None:
    completion = script("bash", tmp_path)
    (tmp_path / "my_callbacks.py").write_text("")
    (tmp_path / "rows.csv").write_text("")
    assert bash_offers(completion, "wsdat", "co", cwd=tmp_path) == ["connect", "completion"]
    assert bash_offers(completion, "wsdat", "connect", "--maxl", cwd=tmp_path) == ["--maxlines"]
    assert "--no-reconnect" in bash_offers(completion, "wsdat", "connect", "--no-re", cwd=tmp_path)
    assert bash_offers(completion, "wsdat", "connect", "--output", "", cwd=tmp_path) == ["plain", "json", "jsonl",
                                                                                        "tsv"]
    assert bash_offers(completion, "wsdat", "connect", "--view", "", cwd=tmp_path) == ["chat", "table"]
    plugins = bash_offers(completion, "wsdat", "connect", "--callbacks", "", cwd=tmp_path)
    assert {"echo", "record", "json", "my_callbacks.py"} <= set(plugins) and "rows.csv" not in plugins
    assert bash_offers(completion, "wsdat", "connect", "--send-file", "ro", cwd=tmp_path) == ["rows.csv"]
    assert bash_offers(completion, "wsdat", "completion", "", cwd=tmp_path) == ["bash", "zsh", "fish"]
    assert bash_offers(completion, "wsdat", "-v", "replay", "r", cwd=tmp_path) == ["rows.csv"]
    assert bash_offers(completion, "wsdat", "connect", "--maxlines", "", cwd=tmp_path) == []


def fish_offers(completion: Path, line: str, cwd: Path) -> list[str]:
    done = subprocess.run([need("fish"), "--no-config", "-c", f"source '{completion}'; complete -C '{line}'"],
                          capture_output=True, text=True, timeout=30, env=ENV, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [entry.split("\t")[0] for entry in done.stdout.splitlines()]


def test_fish_completes_commands_flags_values_and_plugins(tmp_path: Path) -> None:
    completion = script("fish", tmp_path)
    assert {"connect", "completion"} <= set(fish_offers(completion, "wsdat co", tmp_path))
    assert fish_offers(completion, "wsdat connect --maxl", tmp_path) == ["--maxlines"]
    assert fish_offers(completion, "wsdat connect --output ", tmp_path) == ["json", "jsonl", "plain", "tsv"]
    assert {"echo", "record"} <= set(fish_offers(completion, "wsdat connect --callbacks ", tmp_path))
    assert "--execute" in fish_offers(completion, "wsdat connect --exe", tmp_path)
    assert fish_offers(completion, "wsdat completion ", tmp_path) == ["bash", "fish", "zsh"]


@pytest.fixture
def zsh(tmp_path: Path) -> Iterator[Terminal]:
    need("zsh")
    completion = script("zsh", tmp_path)
    (tmp_path / ".zshrc").write_text(f"PATH={BIN}:$PATH\nautoload -Uz compinit && compinit -u -d {tmp_path}/.zcd\n"
                                     f"source {completion}\nPS1='%% '\n")
    with Terminal.start(["zsh", "-i"], env={"ZDOTDIR": str(tmp_path)}, cwd=tmp_path) as terminal:
        terminal.wait_for(lambda screen: screen.strip().startswith("%"), "the zsh prompt")
        yield terminal


def test_zsh_completes_flags_values_and_plugins_in_a_real_terminal(zsh: Terminal) -> None:
    zsh.type("wsdat connect --outp")
    zsh.keys("Tab")
    zsh.wait_for(lambda screen: "% wsdat connect --output" in screen, "the flag completed")
    zsh.keys("Tab")
    zsh.wait_for(lambda screen: "jsonl" in screen and "plain" in screen and "tsv" in screen, "the output forms")
    zsh.keys("C-u")
    zsh.type("wsdat connect --callbacks ")
    zsh.keys("Tab")
    zsh.wait_for(lambda screen: "echo" in screen and "record" in screen, "plugin names")
