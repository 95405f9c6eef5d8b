"""The live table in a real terminal (tmux): ``--view table`` and ``wsdat demo``."""

from __future__ import annotations

import sys

from tests.faces.terminal import Terminal

WSDAT = [sys.executable, "-m", "wsdat_core"]


def test_typing_under_the_live_table_leaves_no_stray_lines(independent_server) -> None:
    with Terminal.start([*WSDAT, "connect", independent_server.url, "--view", "table"],
                        env={"NO_COLOR": "1"}) as terminal:
        terminal.wait_for(lambda screen: " open " in screen, "the live table")
        for text in ("first line", "second line"):
            terminal.type(text)
            terminal.keys("Enter")
        screen = terminal.wait_for(lambda screen: "second line" in screen and "sent 2" in screen, "both rows")
        lines = terminal.lines()
        headers = [line for line in lines if line.split()[:2] == ["row", "┃"] or line.strip().startswith("row ")]
        assert len(headers) == 1, screen  # one header, however many lines were typed
        assert [line.split("│")[-1].strip() for line in lines if "│" in line] == ["first line", "second line"]
        assert not any(line.strip() in ("first line", "second line") for line in lines), screen  # never echoed
        terminal.keys("C-c")
        assert terminal.wait_ended() == 0


def test_wsdat_demo_shows_the_live_table_of_its_feed() -> None:
    with Terminal.start([*WSDAT, "demo", "--rate", "20", "--duration", "3"], env={"NO_COLOR": "1"}) as terminal:
        terminal.wait_for(lambda screen: '"type": "reading"' in screen and " open " in screen, "readings")
        assert terminal.wait_ended() == 0
