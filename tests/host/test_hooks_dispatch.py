"""How hooks are called: every plugin's implementation in order, plain and async mixed, with the arguments each one
declares; what a hook gets as ``me``; which callback is running (for the CLI's second-signal line); a callbacks file
in another encoding. Offline (``run_offline`` + ``deliver``): no network needed to call hooks."""

from __future__ import annotations

import inspect

import trio

from wsdat_core import WebSocketDAT
from wsdat_core.host.callbacks import running_callback


async def deliver(dat: WebSocketDAT, *events: tuple[str, object]) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run_offline)
        await dat.deliver(list(events))
        await dat.wait_hooks()
        nursery.cancel_scope.cancel()


async def test_plain_and_async_implementations_all_run_in_order_with_their_own_arguments() -> None:
    calls: list[tuple[str, object]] = []

    class AsyncFirst:
        async def onReceiveText(self, dat: WebSocketDAT, rowIndex: int, message: str) -> None:
            calls.append(("async", (dat.name, rowIndex, message)))

    class PlainSecond:
        def onReceiveText(self, message: str, me: object) -> None:
            calls.append(("plain", (message, me)))

    class AsyncLifecycle:
        async def onStart(self, me: object, dat: WebSocketDAT) -> None:
            calls.append(("start", (me, dat.name)))

    dat = WebSocketDAT("d", callbacks=[AsyncFirst(), PlainSecond(), AsyncLifecycle()])
    await deliver(dat, ("text", "hi"))
    assert calls == [("start", (dat, "d")), ("plain", ("hi", dat)), ("async", ("d", 1, "hi"))]


async def test_me_is_what_executeloc_says() -> None:
    seen: list[object] = []

    class Hooks:
        def onReceiveText(self, me: object) -> None:
            seen.append(me)

    hooks = Hooks()
    dat = WebSocketDAT(callbacks=[hooks], executeloc="callbacks")
    await deliver(dat, ("text", "x"))
    [plugin] = dat.host.plugins
    assert seen == [hooks] and dat.host.me_of(plugin) is hooks
    dat.par.executeloc = "current"
    await deliver(dat, ("text", "y"))
    assert seen == [hooks, dat] and dat.host.me_of(plugin) is dat


async def test_the_running_callback_is_named_with_its_file_and_line() -> None:
    named: list[str | None] = []

    class Hooks:
        def onReceiveText(self, message: str) -> None:
            named.append(running_callback(inspect.currentframe()))

    dat = WebSocketDAT(callbacks=[Hooks()])
    await deliver(dat, ("text", "x"))
    line = Hooks.onReceiveText.__code__.co_firstlineno + 1
    assert named == [f"onReceiveText (test_hooks_dispatch.py:{line})"]
    assert running_callback(inspect.currentframe()) is None  # outside any callback
    assert running_callback(None) is None


async def test_a_callbacks_file_in_latin_1_loads_by_its_coding_line(tmp_path) -> None:
    path = tmp_path / "latin.py"
    path.write_bytes("# -*- coding: latin-1 -*-\nGREETING = 'caf\u00e9'\n\n"
                     "def onReceiveText(dat, message):\n    dat.store('seen', GREETING + message)\n".encode("latin-1"))
    dat = WebSocketDAT(callbacks=[str(path)])
    await deliver(dat, ("text", "!"))
    assert dat.fetch("seen") == "caf\u00e9!"
