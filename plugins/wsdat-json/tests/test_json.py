"""wsdat-json: a second table with one column per key; invalid JSON counted and reported."""

from __future__ import annotations

from wsdat_json import flatten, table_of

from wsdat_core.faces.testing import wait_for_rows, wait_until


def test_flatten_dotted_paths_lists_and_scalars() -> None:
    assert flatten({"a": {"b": 1, "c": [True, {"d": None}]}, "e": "x"}) == {"a.b": 1, "a.c.0": True, "a.c.1.d": None,
                                                                           "e": "x"}
    assert flatten(5) == {"value": 5}
    assert flatten({"empty": {}, "none": []}) == {"empty": {}, "none": []}


async def test_json_rows_columns_and_invalid(ws_server, dat_factory) -> None:
    monitor: list[str] = []

    class Monitor:
        def onMonitorMessage(self, message: str) -> None:
            monitor.append(message)

    dat = await dat_factory(callbacks=["json", Monitor()], maxlines=3)
    await ws_server.send_text('{"sensor": "t1", "value": 21.5, "meta": {"unit": "C"}}',
                              "not json at all",
                              '{"sensor": "t2", "ok": true, "value": null}')
    await wait_for_rows(dat, 3)
    table = table_of(dat)
    assert table.row(0) == ["sensor", "value", "meta.unit", "ok"]
    assert table.rows()[1:] == [["t1", "21.5", "C", ""], ["t2", "null", "", "true"]]
    assert table[2, "ok"] == "true" and table.col("sensor") == ["sensor", "t1", "t2"]
    assert table.invalid == 1
    await wait_until(lambda: any("1 message(s) were not JSON" in m for m in monitor))
    assert dat.info.errors == 0  # never fatal, nothing raised
    await ws_server.send_text(*[f'{{"n": {i}}}' for i in range(5)])
    await wait_for_rows(dat, 3)
    await wait_until(lambda: table_of(dat).col("n")[-1] == "4")
    assert table_of(dat).numRows == 4  # follows maxlines
