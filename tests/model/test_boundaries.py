"""Boundaries of the pure model at the exact value and one past it: the table's memory guard, its refusals and exports,
and the backoff where powers give way to logarithms."""

from __future__ import annotations

import math
import sys

import pytest

from wsdat_core.model.backoff import Backoff
from wsdat_core.model.table import MessageTable, hex_bytes


# -- the table's memory guard (clamp off, maxtablebytes) --------------------------------------------------------------
def row_size(message: str | bytes) -> int:
    return sys.getsizeof(message) + 8


def test_the_memory_guard_keeps_rows_up_to_exactly_maxtablebytes() -> None:
    messages = [f"m{i:03d}" for i in range(10)]
    each = row_size(messages[0])
    table = MessageTable(clamp=False, maxtablebytes=3 * each)
    for message in messages[:3]:
        table.append(message)
    assert table.numRows - 1 == 3 and table.size_evictions == 0  # exactly at the limit: all kept
    assert table.size_bytes == 3 * each
    assert table.append(messages[3]) == 3  # one byte-row past it: the oldest goes
    assert table.col(0)[1:] == messages[1:4] and table.size_evictions == 1
    for message in messages[4:]:
        table.append(message)
    assert table.col(0)[1:] == messages[7:] and table.size_evictions == 7
    assert table.size_bytes == 3 * each


def test_the_memory_guard_keeps_the_newest_row_even_when_it_alone_is_too_big() -> None:
    table = MessageTable(clamp=False, maxtablebytes=10)
    table.append("x" * 100)
    table.append("y" * 100)
    assert table.col(0)[1:] == ["y" * 100] and table.size_evictions == 1


def test_setting_maxtablebytes_evicts_at_once_and_zero_turns_the_guard_off() -> None:
    table = MessageTable(clamp=False)
    for i in range(5):
        table.append(f"r{i}")
    each = row_size("r0")
    table.maxtablebytes = 2 * each
    assert table.col(0)[1:] == ["r3", "r4"] and table.size_evictions == 3 and table.maxtablebytes == 2 * each
    table.maxtablebytes = 0
    for i in range(5, 9):
        table.append(f"r{i}")
    assert table.numRows - 1 == 6 and table.size_evictions == 3
    table.clamp = True  # clamp on: maxlines rules, the guard is off
    table.maxtablebytes = each
    assert table.numRows - 1 == 6
    table.clamp = False  # off again with a limit: the guard counts what is there and evicts
    assert table.col(0)[1:] == ["r8"] and table.size_evictions == 8


def test_the_table_describes_itself_and_refuses_bad_keys_exactly() -> None:
    table = MessageTable(maxlines=5, bytes=True)
    assert repr(table) == "<MessageTable rows=0 maxlines=5 columns=['message', 'bytes']>"
    assert repr(MessageTable(clamp=False)) == "<MessageTable rows=0 maxlines=unlimited columns=['message']>"
    table.append("hi")
    with pytest.raises(TypeError) as refused:
        table[1]  # type: ignore[index]
    assert str(refused.value) == "index the table with [row, column]"
    with pytest.raises(TypeError) as refused:
        table[1, 0, 0]  # type: ignore[index]
    assert str(refused.value) == "index the table with [row, column]"
    with pytest.raises(TypeError) as refused:
        table[1, 1.0]  # type: ignore[index]
    assert str(refused.value) == "column must be an index or a heading name, not float"
    with pytest.raises(TypeError) as refused:
        table[1, True]  # type: ignore[index]
    assert str(refused.value) == "column must be an index or a heading name, not bool"
    assert table[1, -1] == "68 69" and table[1, -2] == "hi" and table[1, "bytes"] == "68 69"
    for bad in (0, -3, True, 1.0):
        with pytest.raises(ValueError) as refused:
            MessageTable(maxlines=bad)  # type: ignore[arg-type]
        assert str(refused.value) == f"maxlines: {bad!r} is not allowed; expected an integer >= 1"


def test_hex_and_cells_of_odd_text_and_bytes() -> None:
    assert hex_bytes("\udc80") == "ed b2 80"  # a lone surrogate (from surrogateescape'd input) is shown, not lost
    assert hex_bytes(b"\x00\xff") == "00 ff"
    table = MessageTable(bytes=True)
    table.append(b"ok\xff")
    assert table[1, 0] == "ok\\xff" and table[1, 1] == "6f 6b ff"
    table.append("a,b\nc")
    assert table.to_csv() == 'message,bytes\nok\\xff,6f 6b ff\n"a,b\nc",61 2c 62 0a 63\n'  # \n, never \r\n
    assert table.to_tsv() == 'message\tbytes\nok\\xff\t6f 6b ff\n"a,b\nc"\t61 2c 62 0a 63\n'


def test_clear_starts_the_memory_guards_count_over() -> None:
    each = row_size("r0")
    table = MessageTable(clamp=False, maxtablebytes=2 * each)
    table.append("r0")
    table.append("r1")
    table.clear()
    assert table.numRows == 1 and table.size_bytes == 0
    table.append("r2")
    table.append("r3")  # exactly the limit again: nothing evicted
    assert table.col(0)[1:] == ["r2", "r3"] and table.size_evictions == 0


def test_table_defaults_rows_and_json() -> None:
    table = MessageTable()
    assert (table.maxlines, table.clamp, table.maxtablebytes, table.heading) == (100, True, 0, ("message",))
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError) as refused:
            table[bad, 0]  # type: ignore[index]
        assert str(refused.value) == f"row must be an integer, not {type(bad).__name__}"
    table.append("é ü")
    assert table.to_json() == '[{"message": "é ü"}]'  # UTF-8 as it is, not \\u escapes


# -- the backoff where powers give way to logarithms, and numbers too large for a float ------------------------------
def test_the_backoff_below_the_cap_on_the_logarithm_path_is_still_exponential() -> None:
    # cap / first = 1e600 > e**700: past attempt 1727 the power is computed from logarithms, still exactly first *
    # factor ** n below the cap
    backoff = Backoff(first=1e-300, factor=1.5, cap=1e300, uniform=lambda low, high: high)
    backoff.attempt = 2000
    assert backoff.next_delay() == pytest.approx(math.exp(math.log(1e-300) + 2000 * math.log(1.5)), rel=1e-9)
    backoff.attempt = 3500  # past log(cap / first) / log(factor) (about 3407): the cap
    assert backoff.next_delay() == 1e300


def test_integers_too_large_for_a_float_count_as_the_largest_float_or_are_refused() -> None:
    huge = 10**400
    backoff = Backoff(first=huge, factor=huge, cap=huge, uniform=lambda low, high: high)
    assert backoff.next_delay() == sys.float_info.max  # the first retry: min(first, cap)
    assert backoff.next_delay() == sys.float_info.max
    for field in ("first", "cap"):
        with pytest.raises(ValueError) as refused:
            Backoff(**{field: -huge}).next_delay()
        assert str(refused.value).startswith(f"Backoff.{field}: -1000") and "expected a number > 0" in \
            str(refused.value)
    with pytest.raises(ValueError, match=r"^Backoff\.factor: -1000.* expected a number >= 1$"):
        Backoff(factor=-huge).next_delay()


