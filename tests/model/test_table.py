"""The FIFO message table: heading, clamp/maxlines, bytes column, TD-style access, export."""

import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsdat_core.model.table import MessageTable, hex_bytes


def test_heading_row_and_first_message_in_row_one() -> None:
    t = MessageTable()
    assert (t.numRows, t.numCols) == (1, 1)
    assert t.row(0) == ["message"]
    assert t.append("hello") == 1
    assert t[1, 0] == "hello"
    assert t[1, "message"] == "hello"
    assert t.numRows == 2


def test_clamp_keeps_the_newest_maxlines_rows_and_row_index_is_maxlines_when_full() -> None:
    t = MessageTable(maxlines=3)
    assert [t.append(str(i)) for i in range(6)] == [1, 2, 3, 3, 3, 3]
    assert t.col("message") == ["message", "3", "4", "5"]


def test_clamp_off_is_unlimited() -> None:
    t = MessageTable(maxlines=2, clamp=False)
    assert [t.append("x") for _ in range(5)] == [1, 2, 3, 4, 5]
    t.clamp = True  # turning clamp on evicts at once
    assert t.numRows == 3


def test_lowering_maxlines_evicts_immediately_oldest_first() -> None:
    t = MessageTable(maxlines=10)
    for i in range(8):
        t.append(str(i))
    t.maxlines = 3
    assert t.col(0)[1:] == ["5", "6", "7"]
    t.maxlines = 5
    assert t.append("8") == 4


def test_bytes_column_is_hex_pairs_of_the_utf8_bytes() -> None:
    t = MessageTable(bytes=True)
    t.append("hi")
    t.append("é")
    assert t.row(0) == ["message", "bytes"]
    assert t[1, "bytes"] == "68 69"
    assert t[2, 1] == "c3 a9"
    assert t.numCols == 2
    t.bytes = False
    assert t.row(1) == ["hi"]
    assert hex_bytes(b"\x00\xff") == "00 ff"
    assert hex_bytes("") == ""


def test_binary_rows_show_text_where_utf8_and_exact_bytes() -> None:
    t = MessageTable(bytes=True)
    t.append(b"ok\xff")
    assert t.row(1) == ["ok\\xff", "6f 6b ff"]


def test_cells_are_strings_with_td_val_row_and_col() -> None:
    t = MessageTable()
    t.append("a")
    t.append("b")
    cell = t[-1, "message"]
    assert cell == "b" and isinstance(cell, str)
    assert (cell.val, cell.row, cell.col) == ("b", 2, 0)


def test_negative_rows_count_from_the_end() -> None:
    t = MessageTable()
    for m in ("a", "b", "c"):
        t.append(m)
    assert t[-1, 0] == "c"
    assert t.row(-3) == ["a"]
    assert t.row(-4) == ["message"]


def test_out_of_range_access_says_the_size() -> None:
    t = MessageTable()
    t.append("a")
    with pytest.raises(IndexError, match="2 row"):
        t[2, 0]
    with pytest.raises(IndexError, match="2 row"):
        t.row(-3)
    with pytest.raises(IndexError, match="1 column"):
        t[1, 1]
    with pytest.raises(KeyError, match="bytes"):
        t[1, "bytes"]


def test_clear_keeps_the_heading() -> None:
    t = MessageTable(bytes=True)
    t.append("a")
    t.clear()
    assert t.rows() == [["message", "bytes"]]
    assert t.append("b") == 1


def test_text_and_exports() -> None:
    t = MessageTable(bytes=True)
    t.append("a,b")
    t.append('say "hi"\tnow')
    assert t.text == 'message\tbytes\na,b\t61 2c 62\nsay "hi"\tnow\t73 61 79 20 22 68 69 22 09 6e 6f 77'
    assert t.to_csv().splitlines()[1] == '"a,b",61 2c 62'
    assert t.to_tsv().splitlines()[2].startswith('"say ""hi""\tnow"\t')
    assert json.loads(t.to_json()) == [
        {"message": "a,b", "bytes": "61 2c 62"},
        {"message": 'say "hi"\tnow', "bytes": "73 61 79 20 22 68 69 22 09 6e 6f 77"},
    ]


def test_a_row_costs_no_more_than_its_message() -> None:
    t = MessageTable(clamp=False)
    message = "x" * 100
    for _ in range(1000):
        t.append(message)
    # One reference per row in the deque; the row object is the message itself.
    assert all(row is message for row in t.messages)
    assert sys.getsizeof(t.messages) < 1000 * 16


def test_bad_maxlines_rejected() -> None:
    with pytest.raises(ValueError, match="maxlines"):
        MessageTable(maxlines=0)
    t = MessageTable()
    with pytest.raises(ValueError, match="maxlines"):
        t.maxlines = -1


# ------------------------------------------------------------------------------------------------------ FIFO laws
operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.text(max_size=5)),
        st.tuples(st.just("maxlines"), st.integers(1, 8)),
        st.tuples(st.just("clamp"), st.booleans()),
        st.tuples(st.just("clear"), st.none()),
    ),
    max_size=60,
)


@given(maxlines=st.integers(1, 8), clamp=st.booleans(), ops=operations)
def test_fifo_laws_against_a_list_model(maxlines: int, clamp: bool, ops: list[tuple[str, object]]) -> None:
    table = MessageTable(maxlines=maxlines, clamp=clamp)
    model: list[str] = []
    for op, arg in ops:
        if op == "append":
            assert isinstance(arg, str)
            model.append(arg)
            if clamp and len(model) > maxlines:
                del model[: len(model) - maxlines]
            row_index = table.append(arg)
            # rowIndex points at the message just added
            assert row_index == len(model)
            assert table[row_index, 0] == arg
        elif op == "maxlines":
            assert isinstance(arg, int)
            maxlines = arg
            table.maxlines = arg
        elif op == "clamp":
            clamp = bool(arg)
            table.clamp = clamp
        else:
            model.clear()
            table.clear()
        if clamp and len(model) > maxlines:
            del model[: len(model) - maxlines]
        # length, order and eviction of the oldest first
        assert table.col("message") == ["message", *model]
        assert table.numRows == len(model) + 1
        if clamp:
            assert table.numRows - 1 <= maxlines
