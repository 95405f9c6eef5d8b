"""Plain objects are called as TouchDesigner calls callbacks (by position, any names) unless every parameter is named
like an argument; marked hooks and packaged plugins keep pluggy's name matching; the order listed (and tryfirst /
trylast) holds across both kinds; load errors speak wsdat, not pluggy."""

from __future__ import annotations

from typing import Any

import pytest

from wsdat_core import PluginError, WebSocketDAT, hookimpl
from wsdat_core.host.calling import call_style
from wsdat_core.host.hookspecs import HOOK_NAMES

from .test_hooks_dispatch import deliver


async def test_plain_objects_with_their_own_names_get_tds_arguments_in_order() -> None:
    seen: list[tuple[str, Any]] = []

    class Renamed:
        def onReceiveText(self, op: Any, row: int, text: str) -> None:
            seen.append(("renamed", (op.name, row, text)))

        async def onReceiveBinary(self, op: Any, payload: bytes) -> None:
            seen.append(("async", (op.name, payload)))

    class Starred:
        def onReceiveText(self, *args: Any) -> None:
            seen.append(("starred", args[1:]))

        def onConnect(self, websocket: Any, extra: str = "default") -> None:
            seen.append(("default", (websocket.name, extra)))

    class ByName:  # every parameter named like an argument: a subset, by name
        def onReceiveText(self, message: str, me: Any) -> None:
            seen.append(("named", (message, me.name)))

    dat = WebSocketDAT("d", callbacks=[Renamed(), Starred(), ByName()])
    await deliver(dat, ("connect", "ws://x/"), ("text", "hi"), ("binary", b"\x01"))
    assert seen == [("default", ("d", "default")), ("renamed", ("d", 1, "hi")), ("starred", (1, "hi")),
                    ("named", ("hi", "d")), ("async", ("d", b"\x01"))]
    assert dat.info.hook_errors == 0


def test_call_styles() -> None:
    spec = ("me", "dat", "rowIndex", "message")

    def subset(dat: Any, message: str) -> None: ...
    def renamed(dat: Any, rowIndex: int, data: str) -> None: ...
    def starred(dat: Any, *args: Any) -> None: ...
    def keyword_only(dat: Any, rowIndex: int, message: str, *, strict: bool) -> None: ...
    def too_few(d: Any) -> None: ...

    assert call_style("onReceiveText", subset, spec).argnames == ("dat", "message")
    assert [call_style("onReceiveText", f, spec).kind for f in (subset, renamed, starred, keyword_only, too_few)] == \
        ["names", "position", "position", "unfit", "unfit"]
    assert call_style("onReceiveText", renamed, spec).argnames == ("dat", "rowIndex", "message")
    assert call_style("onReceiveText", too_few, spec).problem == (
        "onReceiveText(d) cannot take the 3 argument(s) it is called with (dat, rowIndex, message): too many "
        "positional arguments")


async def test_the_listed_order_holds_across_positional_and_marked_hooks_with_tryfirst_and_trylast() -> None:
    order: list[str] = []

    class Positional:
        def __init__(self, name: str) -> None:
            self.name = name

        def onReceiveText(self, d: Any, r: int, m: str) -> None:
            order.append(self.name)

    class Marked:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def onReceiveText(self, message: str) -> None:
            order.append(self.name)

    class First:
        @hookimpl(tryfirst=True)
        def onReceiveText(self) -> None:
            order.append("first")

    class Last:
        @hookimpl(trylast=True)
        def onReceiveText(self) -> None:
            order.append("last")

    dat = WebSocketDAT(callbacks=[Positional("a"), Last(), Marked("b"), Positional("c"), First(), Marked("d")])
    await deliver(dat, ("text", "x"))
    assert order == ["first", "a", "b", "c", "d", "last"]


def test_a_marked_hook_named_like_no_hook_is_refused_in_one_line() -> None:
    class Typo:
        @hookimpl
        def onRecieveText(self, message: str) -> None: ...

    typo = Typo()
    with pytest.raises(PluginError) as refused:
        WebSocketDAT(callbacks=[typo], active=False)
    assert str(refused.value) == (f"callbacks: Typo@{id(typo):x}: onRecieveText is marked as a hook, but no hook is "
                                  f"named 'onRecieveText' (hooks: {', '.join(HOOK_NAMES)})")
    assert "\n" not in str(refused.value) and "hookimpl definition" not in str(refused.value)

