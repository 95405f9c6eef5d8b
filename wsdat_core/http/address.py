"""Where the HTTP side listens: ``--http`` / ``[service] http`` values such as ``9090``, ``127.0.0.1:9090``,
``[::1]:9090`` or ``0.0.0.0:9090``.

A port alone binds loopback (127.0.0.1); any other interface must be named. Port 0 lets the OS choose.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

__all__ = ["HttpAddress", "parse_http_address"]

LOOPBACK: Final = "127.0.0.1"
_ALLOWED: Final = "[HOST:]PORT, e.g. 9090, 127.0.0.1:9090, [::1]:9090 or 0.0.0.0:9090 (port 0-65535)"


@dataclass(frozen=True, slots=True)
class HttpAddress:
    """A host and a port to listen on."""

    host: str
    port: int

    @property
    def bind(self) -> str:
        """Hypercorn's bind string (``[::1]:9090`` for IPv6)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """True when only this machine can connect (127.0.0.0/8, ::1 or ``localhost``)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_http_address(value: object) -> HttpAddress:
    """``value`` as an :class:`HttpAddress`; ``ValueError`` with one line saying what is allowed.

    >>> parse_http_address("9090")
    HttpAddress(host='127.0.0.1', port=9090)
    >>> parse_http_address("[::1]:0").bind
    '[::1]:0'
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{value!r} is not allowed; expected {_ALLOWED}")
    text = str(value).strip()
    host, port_text = LOOPBACK, text
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1:close + 2] != ":":
            raise ValueError(f"{value!r} is not allowed; expected {_ALLOWED}")
        host, port_text = text[1:close], text[close + 2:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        host = host or LOOPBACK
        if ":" in host:
            raise ValueError(f"{value!r} is not allowed; write an IPv6 address in brackets, e.g. [::1]:9090")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535 or not _valid_host(host):
        raise ValueError(f"{value!r} is not allowed; expected {_ALLOWED}")
    return HttpAddress(host, int(port_text))


def _valid_host(host: str) -> bool:
    if not host or not host.isascii():
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) for label in labels)
