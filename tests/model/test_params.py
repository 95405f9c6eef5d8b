"""The parameter pages: TD's names and defaults, validation, runtime changes."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsdat_core import ParameterError, Parameters, WsdatError
from wsdat_core.model.params import SPECS

TD_DEFAULTS = {
    "active": True,
    "netaddress": "localhost",
    "port": 80,
    "timeout": 5000,
    "callbacks": (),
    "executeloc": "current",
    "fromop": "",
    "clamp": True,
    "maxlines": 100,
    "bytes": False,
}


def test_td_names_and_defaults() -> None:
    par = Parameters()
    for name, default in TD_DEFAULTS.items():
        assert getattr(par, name) == default, name
    assert par.endpoint.url == "ws://localhost:80/"
    assert "clear" in SPECS


def test_parameter_error_is_a_value_error_and_a_wsdat_error() -> None:
    with pytest.raises(ParameterError) as info:
        Parameters(port=70000)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, WsdatError)
    assert str(info.value) == "port: 70000 is not allowed; expected an integer from 1 to 65535"


@pytest.mark.parametrize(
    ("changes", "name", "fragment"),
    [
        ({"port": 0}, "port", "1 to 65535"),
        ({"port": 65536}, "port", "1 to 65535"),
        ({"port": True}, "port", "1 to 65535"),
        ({"port": "http"}, "port", "1 to 65535"),
        ({"timeout": 0}, "timeout", ">= 1"),
        ({"timeout": -5}, "timeout", "milliseconds"),
        ({"maxlines": 0}, "maxlines", ">= 1"),
        ({"executeloc": "parent"}, "executeloc", "'current', 'callbacks', 'op'"),
        ({"executeloc": "op"}, "executeloc", "fromop"),
        ({"netaddress": ""}, "netaddress", "empty"),
        ({"netaddress": "http://x"}, "netaddress", "not a WebSocket scheme"),
        ({"netaddress": "[::zz]"}, "netaddress", "IPv6"),
        ({"active": "maybe"}, "active", "boolean"),
        ({"clamp": 2}, "clamp", "boolean"),
        ({"cafile": "/no/such/file.pem"}, "cafile", "no such file"),
        ({"headers": ["X-Bad\r\nInjected: 1"]}, "headers", "not a valid header"),
        ({"headers": ["NoColon"]}, "headers", "no ':'"),
        ({"headers": {"X-A": "b\r\nc"}}, "headers", "not a valid header"),
        ({"subprotocols": ["a b"]}, "subprotocols", "token"),
        ({"nosuch": 1}, "nosuch", "known parameter"),
        ({"clear": True}, "clear", "pulse"),
    ],
)
def test_bad_values_raise_naming_parameter_value_and_allowed(changes: dict[str, object], name: str,
                                                             fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        Parameters(**changes)
    assert info.value.name == name
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert repr(next(iter(changes.values()))) in message or name == "executeloc"
    assert fragment in message


def test_a_rejected_change_leaves_everything_as_it_was() -> None:
    par = Parameters(port=8080)
    heard: list[tuple[str, object, object]] = []
    par.subscribe(lambda *change: heard.append(change))
    with pytest.raises(ParameterError):
        par.update(maxlines=5, port=0)
    assert (par.maxlines, par.port) == (100, 8080)
    assert heard == []


def test_runtime_changes_are_heard_by_listeners() -> None:
    par = Parameters()
    heard: list[tuple[str, object, object]] = []
    unsubscribe = par.subscribe(lambda *change: heard.append(change))
    par.maxlines = 10
    par.maxlines = 10  # unchanged: no event
    par.clear.pulse()
    par.port = 443
    assert heard == [("maxlines", 100, 10), ("clear", None, None), ("port", 80, 443)]
    assert par.endpoint.url == "wss://localhost:443/"
    unsubscribe()
    par.maxlines = 20
    assert len(heard) == 3


def test_executeloc_op_needs_fromop_but_can_be_set_together() -> None:
    par = Parameters()
    with pytest.raises(ParameterError):
        par.executeloc = "op"
    par.update(executeloc="op", fromop="os:path")
    assert (par.executeloc, par.fromop) == ("op", "os:path")


def test_coercion_of_td_style_values(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    par = Parameters(active=0, clamp="off", bytes="on", port="8080", timeout=250.0, executeloc="Callbacks",
                     callbacks="a.py", headers={"X-Token": " abc "}, subprotocols="chat", cafile=ca)
    assert par.active.eval() is False and par.clamp.eval() is False and par.bytes.eval() is True
    assert (par.port, par.timeout, par.executeloc) == (8080, 250, "callbacks")
    assert par.callbacks == ("a.py",)
    assert par.headers == (("X-Token", "abc"),)
    assert par.subprotocols == ("chat",)
    assert par.cafile == str(ca)
    assert Parameters(headers=["A: 1", ("B", "2")]).headers == (("A", "1"), ("B", "2"))


def test_keyfile_needs_certfile(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("x")
    with pytest.raises(ParameterError, match="keyfile"):
        Parameters(keyfile=key)


def test_unknown_attribute_and_mapping_access() -> None:
    par = Parameters()
    with pytest.raises(AttributeError, match="no parameter named 'maxline'"):
        _ = par.maxline
    assert par["maxlines"] == 100
    assert "clear" not in par.as_dict()
    assert set(par) == set(par.as_dict())


@given(st.integers())
def test_port_validation_matches_the_allowed_range(port: int) -> None:
    if 1 <= port <= 65535:
        assert Parameters(port=port).port == port
    else:
        with pytest.raises(ParameterError, match="^port: "):
            Parameters(port=port)


@given(st.integers())
def test_maxlines_and_timeout_validation(value: int) -> None:
    for name, largest in (("maxlines", 2**31 - 1), ("timeout", 86_400_000)):  # a day of milliseconds at most
        if 1 <= value <= largest:
            assert getattr(Parameters(**{name: value}), name) == value
        else:
            with pytest.raises(ParameterError, match=f"^{name}: "):
                Parameters(**{name: value})
