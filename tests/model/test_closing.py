"""How a connection ended (wsdat_core.model.closing): which ends count as errors, and the exact monitor line of each.

The same table runs against real servers in tests/integration/test_boundaries.py; here every rule is checked on its
own, including the ones a server cannot easily produce (a fault on a server close, a close of wsdat's own).
"""

from __future__ import annotations

import pytest

from wsdat_core.model.closing import (
    ABNORMAL,
    NO_STATUS,
    NORMAL_CLOSE_CODES,
    ClosedBy,
    ConnectionEnd,
    close_description,
    describe,
)

SERVER, WSDAT, NETWORK = ClosedBy.SERVER, ClosedBy.WSDAT, ClosedBy.NETWORK


def test_the_normal_codes_are_1000_and_1001_and_the_reported_ones_1005_and_1006() -> None:
    assert frozenset({1000, 1001}) == NORMAL_CLOSE_CODES
    assert (NO_STATUS, ABNORMAL) == (1005, 1006)


@pytest.mark.parametrize(
    ("end", "error", "line"),
    [
        (ConnectionEnd(SERVER, 1000), False, "disconnected: the server closed the connection (1000 normal closure)"),
        (ConnectionEnd(SERVER, 1000, "bye"), False,
         "disconnected: the server closed the connection (1000 normal closure: bye)"),
        (ConnectionEnd(SERVER, 1001, "restarting"), False,
         "disconnected: the server closed the connection (1001 going away: restarting)"),
        (ConnectionEnd(SERVER, 1005), False,
         "disconnected: the server closed the connection (1005 no status received)"),
        (ConnectionEnd(SERVER, 1002), True, "disconnected: the server closed the connection with 1002 protocol error"),
        (ConnectionEnd(SERVER, 1011, "oops"), True,
         "disconnected: the server closed the connection with 1011 internal error: oops"),
        (ConnectionEnd(SERVER, 1015), True,
         "disconnected: the server closed the connection with 1015 TLS handshake failure"),
        (ConnectionEnd(SERVER, 2999), True, "disconnected: the server closed the connection with 2999 unknown code"),
        (ConnectionEnd(SERVER, 3000), True,
         "disconnected: the server closed the connection with 3000 application code"),
        (ConnectionEnd(SERVER, 4999, "custom"), True,
         "disconnected: the server closed the connection with 4999 application code: custom"),
        (ConnectionEnd(SERVER, 5000), True, "disconnected: the server closed the connection with 5000 unknown code"),
        (ConnectionEnd(NETWORK, ABNORMAL), True,
         "disconnected: connection lost without a close frame (1006 abnormal closure)"),
        (ConnectionEnd(NETWORK, 1000, "ignored"), True,
         "disconnected: connection lost without a close frame (1006 abnormal closure)"),
        (ConnectionEnd(WSDAT, 1000, "closed by wsdat"), False,
         "disconnected: closed by wsdat (1000 normal closure: closed by wsdat)"),
        (ConnectionEnd(WSDAT, 4000), False, "disconnected: closed by wsdat (4000 application code)"),
        (ConnectionEnd(WSDAT, 1009, fault="message too big; closed with 1009"), True,
         "disconnected: message too big; closed with 1009"),
        (ConnectionEnd(SERVER, 1000, fault="keepalive: no pong"), True, "disconnected: keepalive: no pong"),
        (ConnectionEnd(NETWORK, ABNORMAL, fault="reset"), True, "disconnected: reset"),
    ],
    ids=lambda value: str(value) if not isinstance(value, ConnectionEnd) else f"{value.closed_by.value}-{value.code}"
    + ("-fault" if value.fault else ""),
)
def test_error_and_monitor_line_of_every_kind_of_end(end: ConnectionEnd, error: bool, line: str) -> None:
    assert end.is_error is error
    assert describe(end) == line


def test_the_server_going_away_is_not_an_error() -> None:
    end = ConnectionEnd(SERVER, 1001)
    assert not end.is_error
    assert describe(end) == "disconnected: the server closed the connection (1001 going away)"


def test_a_close_of_wsdats_own_says_why_when_told() -> None:
    end = ConnectionEnd(WSDAT, 1000, "closed by wsdat")
    assert describe(end, "Active is off") == "disconnected: closed by wsdat (Active is off)"
    assert describe(end, "") == "disconnected: closed by wsdat (1000 normal closure: closed by wsdat)"
    # the explanation is for wsdat's own closes only
    assert describe(ConnectionEnd(SERVER, 1001), "Active is off") == \
        "disconnected: the server closed the connection (1001 going away)"
    assert describe(ConnectionEnd(NETWORK, ABNORMAL), "Active is off") == \
        "disconnected: connection lost without a close frame (1006 abnormal closure)"


@pytest.mark.parametrize(
    ("code", "name"),
    [(1000, "normal closure"), (1001, "going away"), (1002, "protocol error"), (1003, "unsupported data"),
     (1004, "unknown code"), (1005, "no status received"), (1006, "abnormal closure"),
     (1007, "invalid frame payload data"), (1008, "policy violation"), (1009, "message too big"),
     (1010, "mandatory extension"), (1011, "internal error"), (1012, "service restart"), (1013, "try again later"),
     (1014, "bad gateway"), (1015, "TLS handshake failure"), (1016, "unknown code"), (2999, "unknown code"),
     (3000, "application code"), (4999, "application code"), (5000, "unknown code"), (999, "unknown code")],
)
def test_close_description_names_every_code_and_range(code: int, name: str) -> None:
    assert close_description(code) == f"{code} {name}"
    assert close_description(code, "why") == f"{code} {name}: why"


def test_connection_end_is_a_frozen_value() -> None:
    import dataclasses

    end = ConnectionEnd(SERVER, 1000)
    assert (end.reason, end.fault) == ("", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        end.code = 1001  # type: ignore[misc]
    assert end == ConnectionEnd(SERVER, 1000, "", None)
