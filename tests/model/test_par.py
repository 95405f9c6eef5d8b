"""Par objects as in TouchDesigner: dat.par.X behaves like its value and has eval(), val, name, default, label..."""

from __future__ import annotations

import pytest

from wsdat_core import ParameterError, Parameters, WebSocketDAT
from wsdat_core.model.params import Par


def test_a_par_behaves_like_its_value() -> None:
    par = Parameters(maxlines=100, netaddress="example.com", reconnectdelay=0.5).maxlines
    assert isinstance(par, Par)
    assert par == 100 and par != 99 and 99 < par <= 100 and par > 1 and par >= 100
    assert par + 1 == 101 and 1 + par == 101 and par - 1 == 99 and 200 - par == 100
    assert par * 2 == 200 and par / 4 == 25.0 and par // 3 == 33 and par % 7 == 2 and par ** 1 == 100
    assert -par == -100
    assert int(par) == 100 and float(par) == 100.0 and str(par) == "100" and bool(par)
    assert f"{par:05d}" == "00100" and hash(par) == hash(100) and {100: "x"}[par] == "x"
    assert list(range(3))[: Parameters(maxlines=2).maxlines] == [0, 1]  # __index__
    assert repr(par) == "<Par maxlines=100>"


def test_td_members() -> None:
    par = Parameters(maxlines=5)
    assert par.maxlines.eval() == 5 and par.maxlines.val == 5 and par.maxlines.name == "maxlines"
    assert par.maxlines.default == 100 and par.maxlines.label == "Max Lines" and not par.maxlines.isPulse
    assert par.netaddress.label == "Network Address" and par.active.label == "Active"
    assert par.clear.isPulse and str(par.clear) == ""
    assert par.maxlines.page == "Received Messages" and par.maxlines.help.startswith("Maximum message rows")
    with pytest.raises(TypeError, match="not a pulse"):
        par.maxlines.pulse()


def test_sequences_and_strings_through_a_par() -> None:
    par = Parameters(callbacks=["a.py", "b.py"], netaddress="ws://example.com/x")
    assert len(par.callbacks) == 2 and list(par.callbacks) == ["a.py", "b.py"] and "a.py" in par.callbacks
    assert par.callbacks[1] == "b.py" and par.callbacks == ("a.py", "b.py")
    assert par.netaddress + "?q" == "ws://example.com/x?q" and par.netaddress.eval().startswith("ws://")


def test_both_ways_of_setting_keep_the_validation() -> None:
    dat = WebSocketDAT(active=False)
    dat.par.maxlines = 5
    assert dat.par.maxlines == 5 and dat.table.maxlines == 5
    dat.par.maxlines.val = 7
    assert dat.par.maxlines == 7 and dat.table.maxlines == 7
    with pytest.raises(ParameterError, match="^maxlines: 0 is not allowed"):
        dat.par.maxlines.val = 0
    with pytest.raises(ParameterError, match="^maxlines: "):
        dat.par.maxlines = -1
    assert dat.par.maxlines == 7
    dat.par.maxlines = dat.par.maxlines + 1  # a Par on the right-hand side is its value
    assert dat.par.maxlines == 8
    other = WebSocketDAT(active=False, fromop="x")
    dat.par.fromop = other.par.fromop
    assert dat.par.fromop == "x"


def test_pulse_clear_clears_the_table() -> None:
    dat = WebSocketDAT(active=False)
    dat.table.append("a")
    dat.par.clear.pulse()
    assert dat.numRows == 1


def test_a_listener_that_raises_cannot_leave_a_change_half_applied() -> None:
    from wsdat_core.model.params import Parameters

    par = Parameters()
    heard: list[tuple[str, object]] = []

    def fussy(name: str, old: object, new: object) -> None:
        if name == "maxlines":
            raise RuntimeError("listener bug")

    def recorder(name: str, old: object, new: object) -> None:
        heard.append((name, new))

    par.subscribe(fussy)
    par.subscribe(recorder)
    with pytest.raises(RuntimeError, match="listener bug"):
        par.update(maxlines=5, bytes=True, clamp=False)
    # committed, and every listener heard every change: the running DAT follows its parameters
    assert (par.maxlines, par.bytes, par.clamp) == (5, True, False)
    assert heard == [("maxlines", 5), ("bytes", True), ("clamp", False)]
