"""The conversation view in a real terminal (tmux): what a person types and sees.

``wsdat connect URL`` with stdin and stdout on a terminal: typed lines are sent and shown as ``> text``, what arrives
as ``< text``, status lines start with ``--``, the input line keeps a history, and nothing else is on the screen.
"""

from __future__ import annotations

import re
import socket
import sys

from tests.faces.terminal import Terminal

WSDAT = [sys.executable, "-m", "wsdat_core"]
PROMPT = "> "


def parts(terminal: Terminal) -> tuple[list[str], str, str]:
    """The screen as (the conversation, the input line, the toolbar at the bottom)."""
    *above, toolbar = terminal.lines()
    while above and not above[-1]:
        above.pop()
    return above[:-1], above[-1], toolbar


def test_typed_lines_are_sent_shown_and_kept_in_history(independent_server) -> None:
    url = independent_server.url
    with Terminal.start([*WSDAT, "connect", url], env={"NO_COLOR": "1"}) as terminal:
        terminal.wait_for(lambda screen: f"-- connected to {url}" in screen, "the connection")
        terminal.type("hello, \"world\"\\")
        terminal.keys("Enter")
        terminal.wait_for(lambda screen: "< hello" in screen, "the echo")
        terminal.keys("Up")  # history: the last line comes back into the input line
        terminal.wait_for(lambda screen: parts(terminal)[1] == PROMPT + 'hello, "world"\\', "the recalled line")
        terminal.keys("Enter")
        terminal.wait_for(lambda screen: screen.count("< hello") == 2, "the second echo")
        terminal.type("!binary 00ff10")
        terminal.keys("Enter")
        terminal.wait_for(lambda screen: "< <binary 3 bytes" in screen, "the binary answer")
        terminal.type("!ping are you there")
        terminal.keys("Enter")
        terminal.wait_for(lambda screen: "-- ping 'are you there' from the server" in screen, "the server's ping")
        conversation, prompt, _ = parts(terminal)
        assert conversation == [
            f"-- connected to {url}",
            '> hello, "world"\\',
            '< hello, "world"\\',
            '> hello, "world"\\',
            '< hello, "world"\\',
            "> !binary 00ff10",
            "< <binary 3 bytes: 00 ff 10>",
            "> !ping are you there",
            "-- ping 'are you there' from the server",
        ]
        assert prompt == PROMPT.rstrip()
        status = rf" open  received 3  sent 4  errors 0  Ctrl-D quits  {re.escape(url)}"
        terminal.wait_for(lambda screen: re.fullmatch(status, parts(terminal)[2]), "the toolbar (redrawn twice a s)")
        terminal.keys("C-d")
        assert terminal.wait_ended() == 0
        final = terminal.lines()
    assert final[-1].startswith("wsdat: 3 message(s) received (2 text, 1 binary), 4 sent, 1 connection(s)")
    assert not any("row" in line and "message" in line for line in final)  # no header of the live table


def test_slash_ping_prints_the_pong_and_its_round_trip_time(independent_server) -> None:
    with Terminal.start([*WSDAT, "connect", independent_server.url, "--slash"], env={"NO_COLOR": "1"}) as terminal:
        terminal.wait_for(lambda screen: "-- connected to" in screen, "the connection and the input line")
        terminal.type("/ping abc")
        terminal.keys("Enter")
        screen = terminal.wait_for(lambda screen: "-- pong 'abc' after" in screen, "the pong")
        assert re.search(r"^-- pong 'abc' after \d+\.\d ms$", screen, re.MULTILINE), screen
        terminal.type("/nonsense")
        terminal.keys("Enter")
        terminal.wait_for(lambda screen: "-- /nonsense: unknown command; with --slash, lines starting with / are "
                          "/ping [text], /pong [text], /close [code [reason]] or /file PATH" in screen,
                          "the refusal")
        terminal.keys("C-c")  # as Ctrl-D: the session ends politely
        assert terminal.wait_ended() == 0


def test_colours_only_without_no_color(independent_server) -> None:
    for env, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        with Terminal.start([*WSDAT, "connect", independent_server.url], env=env) as terminal:
            terminal.wait_for(lambda screen: "-- connected to" in screen, "the connection and the input line")
            terminal.type("hi")
            terminal.keys("Enter")
            terminal.wait_for(lambda screen: "< hi" in screen, "the echo")
            received = next(line for line in terminal.painted().splitlines() if line.rstrip().endswith("hi")
                            and "<" in line)
            assert (received.rstrip() != "< hi") is coloured, repr(received)
            assert ("\x1b[" in received) is coloured, repr(received)
            terminal.keys("C-d")
            assert terminal.wait_ended() == 0


def test_a_dat_that_cannot_connect_says_so_per_attempt_and_shows_reconnecting() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/"
    refused = f"cannot connect to {url}: connection refused by 127.0.0.1:{port}"
    # the first retry within a second (by then the view is up), the next one 30 to 60 s later
    with Terminal.start([*WSDAT, "connect", url, "--wait", "--reconnectdelay", "1", "--reconnectfactor", "60",
                         "--reconnectmaxdelay", "60"], env={"NO_COLOR": "1"}, width=130) as terminal:
        # the first attempt fails before the view is up (its line is the plain one), the retry within it; the
        # attempt after that is a minute away, and the toolbar says so
        terminal.wait_for(lambda screen: f"-- {refused}" in screen and "reconnecting: attempt 2 in" in screen,
                          "the retry and the next attempt planned")
        conversation, _, toolbar = parts(terminal)
        assert conversation == [f"wsdat: {refused}", f"-- connecting to {url}", f"-- {refused}",
                                "-- reconnecting in " + conversation[-1].split(" in ")[1]]
        assert re.fullmatch(r"-- reconnecting in \d+\.\d\d s \(attempt 2\)", conversation[-1])
        assert re.fullmatch(rf" reconnecting: attempt 2 in \d+\.\d s  received 0  sent 0  errors 2  Ctrl-D quits  "
                            rf"{re.escape(url)}", toolbar)
        terminal.keys("C-d")
        assert terminal.wait_ended() == 0
