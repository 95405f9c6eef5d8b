"""How a connection ended, as one frozen fact, and what the DAT says about it.

The connection layer hands the session one :class:`ConnectionEnd` per connection; :func:`describe` turns it into the
monitor line and decides whether it counts as an error. The rules:

* a fault (a protocol error, an oversized message, a dead peer found by keepalive) is an error, whoever closed;
* wsdat closing (Active off, new parameters, ``dat.close()``, the DAT being stopped) is never an error;
* the server closing with 1000 (normal) or 1001 (going away), or with a close frame without a code (1005), is not an
  error; any other code is;
* the connection ending without a close frame (1006: TCP reset or EOF) is an error.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ABNORMAL",
    "NO_STATUS",
    "NORMAL_CLOSE_CODES",
    "ClosedBy",
    "ConnectionEnd",
    "close_description",
    "describe",
]

#: Close codes a server ends a connection with when nothing went wrong (RFC 6455 7.4.1).
NORMAL_CLOSE_CODES: Final = frozenset({1000, 1001})
#: A close frame without a status code (RFC 6455 7.1.5): reported, never sent.
NO_STATUS: Final = 1005
#: The connection ended without a close frame (RFC 6455 7.1.5): reported, never sent.
ABNORMAL: Final = 1006

_CODE_NAMES: Final = {
    1000: "normal closure", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
    1005: "no status received", 1006: "abnormal closure", 1007: "invalid frame payload data",
    1008: "policy violation", 1009: "message too big", 1010: "mandatory extension", 1011: "internal error",
    1012: "service restart", 1013: "try again later", 1014: "bad gateway", 1015: "TLS handshake failure",
}


class ClosedBy(enum.Enum):
    """Who ended the connection."""

    SERVER = "server"  # a close frame from the server
    WSDAT = "wsdat"  # wsdat sent the first close frame, or dropped the connection on purpose
    NETWORK = "network"  # TCP ended (reset, EOF) without a close handshake


@dataclass(frozen=True, slots=True)
class ConnectionEnd:
    """How one connection ended.

    ``code`` and ``reason`` are the close code and reason that ended it (the server's close frame, or what wsdat
    sent); ``fault`` is the error line when the connection failed (a protocol error, an oversized message, keepalive
    finding the peer dead), else None.
    """

    closed_by: ClosedBy
    code: int
    reason: str = ""
    fault: str | None = None

    @property
    def is_error(self) -> bool:
        """True when this end counts as an error (see the module's rules)."""
        if self.fault is not None:
            return True
        if self.closed_by is ClosedBy.WSDAT:
            return False
        if self.closed_by is ClosedBy.NETWORK:
            return True
        return self.code not in NORMAL_CLOSE_CODES and self.code != NO_STATUS


def close_description(code: int, reason: str = "") -> str:
    """``1001 going away: restarting``: the code, its RFC 6455 name (or the range it is in) and the reason."""
    if code in _CODE_NAMES:
        name = _CODE_NAMES[code]
    elif 3000 <= code <= 4999:
        name = "application code"
    else:
        name = "unknown code"
    return f"{code} {name}" + (f": {reason}" if reason else "")


def describe(end: ConnectionEnd, why_wsdat_closed: str = "") -> str:
    """The monitor line for ``end`` (without the DAT's name). ``why_wsdat_closed`` explains a close of wsdat's own
    (``"Active is off"``, ``"parameters changed"``, ...)."""
    if end.fault is not None:
        return f"disconnected: {end.fault}"
    if end.closed_by is ClosedBy.WSDAT:
        return f"disconnected: closed by wsdat ({why_wsdat_closed or close_description(end.code, end.reason)})"
    if end.closed_by is ClosedBy.NETWORK:
        return f"disconnected: connection lost without a close frame ({close_description(ABNORMAL)})"
    detail = close_description(end.code, end.reason)
    if end.is_error:
        return f"disconnected: the server closed the connection with {detail}"
    return f"disconnected: the server closed the connection ({detail})"
