"""``dat.deliver``: events fed without a network, and ``each`` telling which event's hooks are running."""

from __future__ import annotations

import trio

from wsdat_core import WebSocketDAT


async def test_each_is_called_before_every_received_events_hooks_in_order(nursery: trio.Nursery) -> None:
    seen: list[str] = []

    class Hooks:
        def onReceiveText(self, dat: WebSocketDAT, message: str) -> None:
            seen.append(f"hook {message}")
            if message == "bad":
                raise ValueError("no")

        def onReceiveBinary(self, dat: WebSocketDAT, contents: bytes) -> None:
            seen.append(f"hook {contents!r}")

    dat = WebSocketDAT(callbacks=[Hooks()])
    await nursery.start(dat.run_offline)
    errors: list[int] = []
    count = 0

    def each() -> None:
        nonlocal count
        count += 1
        errors.append(dat.info.errors)
        seen.append(f"each {count}")

    await dat.deliver([("text", "a"), ("text", "bad"), ("binary", b"b"), ("text", "c")], each=each)
    assert seen == ["each 1", "hook a", "each 2", "hook bad", "each 3", "hook b'b'", "each 4", "hook c"]
    assert errors == [0, 0, 1, 1]  # the error of the second event is seen before the third's hooks: attributable
    assert dat.col("message") == ["message", "a", "bad", "c"] and dat.info.messages_received == 4


async def test_without_each_a_run_goes_at_once_with_the_same_rows(nursery: trio.Nursery) -> None:
    rows: list[int] = []

    class Hooks:
        def onReceiveText(self, rowIndex: int, message: str) -> None:
            rows.append(rowIndex)

    dat = WebSocketDAT(callbacks=[Hooks()], maxlines=2)
    await nursery.start(dat.run_offline)
    await dat.deliver([("text", "a"), ("TEXT", "b"), ("text", "c")])
    assert rows == [1, 2, 2] and dat.col("message") == ["message", "b", "c"]
