"""The wsdat command, driven as a subprocess against real servers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

WSDAT = [sys.executable, "-m", "wsdat_core"]


def wsdat(*args: str, stdin: str = "", timeout: float = 20, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WSDAT, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class PipeLines:
    """The lines of a child's pipe, read by a thread as they come, so a test can wait for one (instead of sleeping)."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 15) -> None:
        """Wait until ``predicate(lines)`` holds; AssertionError (with the lines) if the pipe closes or time runs out
        first."""
        with self._changed:
            self._changed.wait_for(lambda: predicate(self.lines) or self.closed, timeout)
            assert predicate(self.lines), self.lines

    def all(self, timeout: float = 15) -> list[str]:
        """Every line, once the pipe has closed."""
        self._thread.join(timeout)
        assert self.closed, "the pipe did not close"
        return self.lines


def test_plain_output_count_and_summary(independent_server) -> None:
    done = wsdat("connect", independent_server.url, "--count", "3", stdin="!burst 3 m\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["m-0", "m-1", "m-2"]
    [summary] = done.stderr.splitlines()
    assert summary.startswith("wsdat: 3 message(s) received (3 text, 0 binary), 1 sent, 1 connection(s), 0 error(s)")


def test_stdin_lines_are_sent_and_the_end_of_stdin_only_ends_sending(independent_server) -> None:
    done = wsdat("connect", independent_server.url, "--count", "2", "--output", "jsonl",
                 stdin="first line\nsecond line\n")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records == [{"type": "text", "row": 1, "message": "first line"},
                       {"type": "text", "row": 2, "message": "second line"}]


#: Texts a pipe must pass through unchanged: JSON with an escaped backslash, a bare backslash, quotes, a tab,
#: non-ASCII (two, three and four UTF-8 bytes) and control sequences (a program reading the pipe gets the data).
EXACT_TEXTS = ['{"p": "C:\\\\temp"}', "plain\\back", "say \"hi\" and 'bye'", "a\tb\t\tc",
               "h\u00e9llo \u2713 \u65e5\u672c \U0001f389", "red\x1b[31mALERT\x1b[0m\x07 \u202eevil"]


@pytest.mark.parametrize("encoding", [None, "latin-1"])
def test_piped_plain_output_is_byte_for_byte_what_the_server_sent(independent_server, encoding: str | None) -> None:
    sent = "".join(text + "\n" for text in EXACT_TEXTS).encode("utf-8")
    env = {**os.environ, "PYTHONIOENCODING": encoding} if encoding else None  # a locale that is not UTF-8
    done = subprocess.run([*WSDAT, "connect", independent_server.url, "--count", str(len(EXACT_TEXTS))],
                          input=sent, capture_output=True, timeout=20, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == sent
    assert json.loads(done.stdout.splitlines()[0]) == {"p": "C:\\temp"}  # what jq would read


def test_jsonl_is_exact_and_json_pretty_prints(independent_server) -> None:
    hostile = "red\x1b[31mALERT\x1b[0m\x07 \u202eevil"
    exact = wsdat("connect", independent_server.url, "--count", "1", "--output", "jsonl", stdin=hostile + "\n")
    assert json.loads(exact.stdout)["message"] == hostile
    pretty = wsdat("connect", independent_server.url, "--count", "2", "--output", "json",
                   stdin='{"a": [1, "x\\\\y"], "b": null}\nnot json\n')
    assert pretty.returncode == 0, pretty.stderr
    assert pretty.stdout == '{\n  "a": [\n    1,\n    "x\\\\y"\n  ],\n  "b": null\n}\nnot json\n'


def test_binary_stdin_and_output(independent_server) -> None:
    done = wsdat("connect", independent_server.url, "--count", "1", "--binary", "hex", stdin="00ff10\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "<binary 3 bytes: 00 ff 10>"
    done = wsdat("connect", independent_server.url, "--count", "1", "--binary", "base64", "--output", "tsv",
                 stdin="AP8Q\n")
    assert done.stdout.strip() == "binary\t00 ff 10"
    done = wsdat("connect", independent_server.url, "--count", "2", "--binary", stdin="00 ff\nAP8Q\n")
    assert done.stdout.splitlines() == ["<binary 2 bytes: 00 ff>", "<binary 3 bytes: 00 ff 10>"]


def test_save_writes_the_table_on_exit(independent_server, tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    done = wsdat("connect", independent_server.url, "--count", "2", "--bytes", "--save", str(target),
                 stdin="a,b\nc\n")
    assert done.returncode == 0, done.stderr
    assert target.read_text().splitlines() == ["message,bytes", '"a,b",61 2c 62', "c,63"]
    as_json = tmp_path / "rows.json"
    wsdat("connect", independent_server.url, "--count", "1", "--save", str(as_json), stdin="x\n")
    assert json.loads(as_json.read_text()) == [{"message": "x"}]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["connect", "ws://localhost:1", "--maxlines", "0"], "maxlines: '0' is not allowed"),
        (["connect", "http://localhost:1"], "netaddress: 'http://localhost:1' is not allowed"),
        (["connect", "ws://localhost:1", "--executeloc", "parent"], "executeloc: 'parent' is not allowed"),
        (["connect", "ws://localhost:1", "--nosuchflag"], "unrecognized arguments: --nosuchflag"),
        (["connect", "ws://localhost:1", "--save", "out.xml"], "--save"),
        (["connect", "ws://localhost:1", "--callbacks", "no_such_plugin_xyz"], "callbacks: 'no_such_plugin_xyz'"),
        (["connect"], "needs a URL"),
        (["demo", "--serve", "nope"], "--serve: 'nope' is not allowed; expected [HOST:]PORT"),
        (["completion", "tcsh"], "argument shell: invalid choice: 'tcsh'"),
        (["connect", "ws://localhost:1", "--view", "grid"], "argument --view: invalid choice: 'grid'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    done = wsdat(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("wsdat: error: ") and fragment in line
    assert "Traceback" not in done.stderr


def test_connection_refused_is_one_line_and_exit_1() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = wsdat("connect", f"ws://127.0.0.1:{port}/")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert f"connection refused by 127.0.0.1:{port}" in line
    assert "Traceback" not in done.stderr


def test_verbose_shows_the_text_console(independent_server) -> None:
    done = wsdat("-v", "connect", independent_server.url, "--count", "1", stdin="x\n")
    assert any(line.startswith(f"wsdat: connected to {independent_server.url} (permessage-deflate")
               for line in done.stderr.splitlines())
    assert "wsdat: wsdat:" not in done.stderr  # the DAT is named wsdat: its name is not printed twice


def test_text_console_environment_variable_for_library_users(independent_server, tmp_path: Path) -> None:
    script = tmp_path / "lib.py"
    script.write_text(
        "import trio\nfrom wsdat_core import open_dat\n"
        "async def main():\n"
        f"    async with open_dat('lib', netaddress={independent_server.url!r}) as dat:\n"
        "        pass\n"
        "trio.run(main)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=20,
                          env={**os.environ, "WSDAT_TEXT_CONSOLE": "1"})
    assert done.returncode == 0, done.stderr
    assert f"lib: connected to {independent_server.url}" in done.stderr
    quiet = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=20,
                           env={k: v for k, v in os.environ.items() if k != "WSDAT_TEXT_CONSOLE"})
    assert "connected" not in quiet.stderr


def test_plugins_json_lists_the_installed_plugin() -> None:
    done = wsdat("plugins", "--json")
    assert done.returncode == 0
    plugins = {p["name"]: p for p in json.loads(done.stdout)}
    assert plugins["echo"]["distribution"] == "wsdat-echo"
    assert plugins["echo"]["hooks"] == ["onReceiveText"]
    human = wsdat("plugins")
    assert "echo" in human.stdout and "wsdat-echo" in human.stdout


def test_connect_with_an_installed_plugin(independent_server) -> None:
    done = wsdat("connect", independent_server.url, "--callbacks", "echo", "--count", "2", stdin="hi\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hi", "echo: hi"]


def test_demo_runs_the_embedded_feed(tmp_path: Path) -> None:
    done = wsdat("demo", "--count", "12", "--rate", "50", "--output", "jsonl", "--no-stdin")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 12
    texts = [json.loads(r["message"]) for r in records if r["type"] == "text"]
    assert any(t["type"] == "reading" for t in texts)
    assert any(r["type"] == "binary" for r in records)


def test_server_closing_with_reconnect_off_ends_the_session(independent_server) -> None:
    done = wsdat("connect", independent_server.url, "--no-reconnect", stdin="!close 1000 bye\n")
    assert done.returncode == 0, done.stderr
    done = wsdat("connect", independent_server.url, "--no-reconnect", stdin="!close 1011 broken\n")
    assert done.returncode == 1
    assert "1011" in done.stderr


def test_sigterm_stops_cleanly_with_a_summary(independent_server) -> None:
    with subprocess.Popen([*WSDAT, "connect", independent_server.url], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        out = PipeLines(process.stdout)
        process.stdin.write("ready?\n")  # the server echoes it: once printed, the session is connected and running
        process.stdin.flush()
        out.wait_for(lambda lines: "ready?" in lines)
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        err = process.stderr.read()
        printed = out.all()  # before the pipes close
    assert process.returncode == 0, err
    assert printed == ["ready?"]
    assert err.startswith("wsdat: 1 message(s) received (1 text, 0 binary), 1 sent, 1 connection(s), 0 error(s)"), err
    assert "Traceback" not in err


def test_live_view_on_a_terminal_escapes_remote_control_sequences(independent_server) -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen([*WSDAT, "connect", independent_server.url, "--count", "2"],
                                   stdin=subprocess.PIPE, stdout=follower, stderr=subprocess.DEVNULL, text=True,
                                   env={**os.environ, "COLUMNS": "100", "LINES": "20", "TERM": "xterm"})
        os.close(follower)
        assert process.stdin is not None
        process.stdin.write("plain row\n\x1b]0;PWNED\x07title\n")
        process.stdin.flush()
        process.stdin.close()
        screen = b""
        while process.poll() is None or len(screen) == 0:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        process.wait(10)
    finally:
        os.close(leader)
    shown = screen.decode("utf-8", "replace")
    assert process.returncode == 0
    assert "plain row" in shown and "message" in shown
    assert "\\x1b]0;PWNED\\x07title" in shown
    assert "\x1b]0;PWNED" not in shown


def test_headers_and_subprotocol_flags(independent_server) -> None:
    done = wsdat("connect", independent_server.url, "-H", "X-Test: 42", "--header", "X-Other: b", "--count", "1",
                 "--output", "jsonl", stdin="!headers\n")
    assert done.returncode == 0, done.stderr
    headers = {k.lower(): v for k, v in json.loads(json.loads(done.stdout)["message"]).items()}
    assert headers["x-test"] == "42" and headers["x-other"] == "b"


def test_wait_keeps_retrying_the_first_connection(start_server) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = f"wsdat: cannot connect to ws://127.0.0.1:{port}/: connection refused by 127.0.0.1:{port}"
    with subprocess.Popen([*WSDAT, "connect", f"ws://127.0.0.1:{port}/", "--wait", "--reconnectdelay", "0.2",
                           "--reconnectmaxdelay", "0.3", "--count", "1"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        err = PipeLines(process.stderr)
        # without a server, --wait keeps trying: one line per attempt, and the process stays
        err.wait_for(lambda lines: lines.count(refused) >= 3)
        assert process.poll() is None
        start_server("--port", str(port))
        process.stdin.write("hello again\n")
        process.stdin.close()
        assert process.wait(15) == 0, err.all()
        out = process.stdout.read()
        printed = err.all()  # before the pipes close
    assert out.strip() == "hello again"
    assert printed[:3] == [refused] * 3


def test_several_callbacks_after_one_flag_and_the_url_last(independent_server, tmp_path: Path) -> None:
    script = tmp_path / "shout.py"
    script.write_text("def onReceiveText(dat, message):\n    if message == 'hi':\n        dat.sendText('HI')\n")
    done = wsdat("connect", "--callbacks", "echo", str(script), independent_server.url, "--count", "4",
                 stdin="hi\n")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == sorted(["hi", "echo: hi", "HI", "echo: HI"])


def test_execute_and_send_file_go_out_on_connect_in_order_before_stdin(independent_server, tmp_path: Path) -> None:
    text = tmp_path / "subscribe.json"
    text.write_text('{"subscribe": "prices"}\nwith a second line')
    blob = tmp_path / "frame.bin"
    blob.write_bytes(b"\x00\xff\x10")
    done = wsdat("connect", independent_server.url, "-x", "first", "--send-file", str(text), "--execute", "third",
                 "--send-file", str(blob), "--count", "5", "--output", "jsonl", stdin="from stdin\n")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"type": "text", "row": 1, "message": "first"},
        {"type": "text", "row": 2, "message": '{"subscribe": "prices"}\nwith a second line'},
        {"type": "text", "row": 3, "message": "third"},
        {"type": "binary", "size": 3, "hex": "00ff10"},
        {"type": "text", "row": 4, "message": "from stdin"},
    ]
    forced = wsdat("connect", independent_server.url, "--send-file", str(text), "--binary", "--count", "1",
                   "--output", "jsonl", "--no-stdin")
    assert json.loads(forced.stdout)["hex"] == text.read_bytes().hex()


def test_a_missing_file_is_one_usage_line(independent_server, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    done = wsdat("connect", independent_server.url, "--send-file", str(missing))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"wsdat: error: --send-file: '{missing}': No such file or directory\n"
    replay = wsdat("replay", str(missing), "-x", "hello")
    assert replay.returncode == 2
    assert replay.stderr == ("wsdat: error: --execute/--send-file: this command does not connect, so it sends "
                             "nothing\n")


def test_slash_file_ping_and_close_on_stdin(independent_server, tmp_path: Path) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_text("line one\nline two")
    done = wsdat("connect", independent_server.url, "--slash", "--output", "jsonl", "--count", "2",
                 stdin=f"/file {payload}\n/ping rtt\n/file\nlast\n")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["message"] for line in done.stdout.splitlines()] == ["line one\nline two", "last"]
    lines = done.stderr.splitlines()  # the refusal comes at once, the pong when the server answers
    assert "wsdat: /file: which file? /file PATH" in lines
    assert any(re.fullmatch(r"wsdat: pong 'rtt' after \d+\.\d ms", line) for line in lines), lines
    assert len(lines) == 3
    closed = wsdat("connect", independent_server.url, "--slash", stdin="/close 4000 done\n")
    assert closed.returncode == 0, closed.stderr
    assert closed.stderr.splitlines()[0] == "wsdat: closed; the server answered 4000"


# -- TouchDesigner callbacks files on the command line ----------------------------------------------------------------
TD_FILES = Path(__file__).parent.parent / "td"


def test_debug_prints_without_v_and_print_never_lands_in_the_piped_data(independent_server) -> None:
    done = wsdat("connect", independent_server.url, "--callbacks", str(TD_FILES / "td_console.py"), "--count", "2",
                 stdin="one\ntwo\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["one", "two"]  # the data only: `| jq` keeps working
    assert done.stderr.splitlines()[:4] == ["wsdat: debug: got one in row 1 (td_console.py:3)", "printed: one",
                                            "wsdat: debug: got two in row 2 (td_console.py:3)", "printed: two"]


def test_a_raising_callback_is_one_line_with_its_file_and_exit_0_unless_strict(independent_server) -> None:
    raiser = str(TD_FILES / "td_raiser.py")
    lines = ["wsdat: td_raiser.py:6 in onReceiveText: JSONDecodeError: Expecting property name enclosed in double "
             "quotes: line 1 column 2 (char 1) (-v shows the traceback)",  # the first error says how to see more
             "wsdat: td_raiser.py:7 in onReceiveText: KeyError: 'id'"]
    summary = "wsdat: 2 message(s) received (2 text, 0 binary), 3 sent, 1 connection(s), 2 error(s) (2 in callbacks)"
    stdin = '{bad\n{"x": 1}\n!close 1000 bye\n'
    done = wsdat("connect", independent_server.url, "--callbacks", raiser, "--no-reconnect", stdin=stdin)
    assert done.returncode == 0, done.stderr  # a normal end, although callbacks raised
    assert done.stderr.splitlines()[:2] == lines
    assert done.stderr.splitlines()[2].startswith(summary)
    strict = wsdat("connect", independent_server.url, "--callbacks", raiser, "--no-reconnect", "--strict", stdin=stdin)
    assert strict.returncode == 1
    assert strict.stderr.splitlines()[:2] == lines
    verbose = wsdat("connect", independent_server.url, "--callbacks", raiser, "--count", "1", "-v",
                    stdin='{"x": 1}\n')
    assert verbose.returncode == 0, verbose.stderr
    error = verbose.stderr.splitlines().index("wsdat: td_raiser.py:7 in onReceiveText: KeyError: 'id'")
    assert verbose.stderr.splitlines()[error + 1] == "Traceback (most recent call last):"
    assert f'File "{TD_FILES / "td_raiser.py"}", line 7, in onReceiveText' in verbose.stderr


def test_the_scaffolds_onreceiveping_says_when_wsdat_answers(tmp_path: Path) -> None:
    from wsdat_core.faces.scaffold import new_plugin

    module = (new_plugin("pinged", tmp_path) / "wsdat_pinged.py").read_text()
    assert ('def onReceivePing(dat, contents):\n    """The server pinged: wsdat answers with a pong right after this '
            'hook, unless the hook answered it with\n    dat.sendPong(contents) itself (the server gets exactly one '
            'pong; parameter autopong)."""\n') in module
    assert "already answered" not in module


def test_plugin_commands_come_through_the_entry_point_group_and_say_how_to_get_them() -> None:
    # installed (make test installs every first-party plugin): `wsdat work` is the redis plugin's
    done = subprocess.run([*WSDAT, "work", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--stream" in done.stdout
    # not installed: the same command line says which package brings it (the entry points are read without it)
    hide = ("import importlib.metadata as m, sys\n"
            "real = m.entry_points\n"
            "m.entry_points = lambda **kw: [] if kw.get('group') == 'wsdat.commands' else real(**kw)\n"
            "from wsdat_core.faces.cli import main\n"
            "sys.exit(main(['work', '--stream', 'wsdat:feed', '--group', 'g']))\n")
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == ("wsdat: error: 'wsdat work' comes with the wsdat-redis plugin, which is not installed: "
                           "pip install wsdat-redis\n")
