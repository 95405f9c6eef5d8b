"""The live view: newest rows, escaped remote text, the status line of info channels."""

import io

from rich.console import Console

from wsdat_core import WebSocketDAT
from wsdat_core.faces.view import LiveView


def render(view: LiveView) -> str:
    view.console.print(view.render())
    return view.console.export_text()


def make(rows: list[str], height: int = 12, **params: object) -> LiveView:
    dat = WebSocketDAT(active=False, **params)
    for row in rows:
        dat.table.append(row)
    console = Console(record=True, width=100, height=height, file=io.StringIO(), color_system=None)
    return LiveView(dat, console)


def test_shows_the_newest_rows_that_fit_and_the_status_line() -> None:
    view = make([f"message {i}" for i in range(50)], height=12)
    text = render(view)
    assert "message 49" in text and "message 42" in text
    assert "message 30" not in text
    last = text.strip().splitlines()[-1]
    assert "closed" in last and "rows 50" in last and "errors 0" in last and "msg/s" in last


def test_remote_text_is_escaped_and_never_markup() -> None:
    view = make(["\x1b]0;PWNED\x07 [bold red]not markup[/bold red]\nnext"])
    text = render(view)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;PWNED\\x07" in text
    assert "[bold red]not markup[/bold red]\\nnext" in text


def test_bytes_column_and_rate() -> None:
    view = make(["hi"], bytes=True)
    assert "68 69" in render(view)
    view.sample(0.0)
    view.dat.info.messages_received = 30
    view.sample(2.0)
    assert view.rate() == 15.0


def test_the_status_line_says_reconnecting_with_the_attempt_and_the_time_left() -> None:
    import time

    from wsdat_core.faces.status import state_text

    view = make([])
    info = view.dat.info
    info.state, info.retry_attempt, info.retry_at = "reconnecting", 3, time.time() + 12.34
    assert state_text(info, now=info.retry_at - 2.4) == "reconnecting: attempt 3 in 2.4 s"
    assert state_text(info, now=info.retry_at + 5) == "reconnecting: attempt 3 in 0.0 s"
    last = render(view).strip().splitlines()[-1]
    assert last.startswith(" reconnecting: attempt 3 in 12.") and " rows 0 " in last
    info.state, info.retry_attempt = "closed", 0
    assert state_text(info) == "closed"
