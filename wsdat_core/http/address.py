"""Where the HTTP side listens (``--http`` / ``[service] http`` values such as ``9090``, ``127.0.0.1:9090``,
``[::1]:9090`` or ``0.0.0.0:9090``) and who may use it (:class:`HttpAccess`: the token, ``--http-open``, more
``Host`` names).

A port alone binds loopback (127.0.0.1); any other interface must be named, and then needs a token
(``--http-token``, ``[service] http_token`` or the environment variable ``WSDAT_HTTP_TOKEN``) unless ``--http-open``
says to serve without one. Port 0 lets the OS choose.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["TOKEN_ENV", "HttpAccess", "HttpAddress", "check_access", "check_token", "parse_http_address"]

#: The environment variable holding the token (so that it is not on a command line other users can read).
TOKEN_ENV: Final = "WSDAT_HTTP_TOKEN"
_TOKEN: Final = re.compile(r"[A-Za-z0-9._~-]{16,256}")
_TOKEN_ALLOWED: Final = ("16 to 256 letters, digits and . _ ~ - (e.g. python -c 'import secrets; "
                         "print(secrets.token_urlsafe())')")

LOOPBACK: Final = "127.0.0.1"
_ALLOWED: Final = "[HOST:]PORT, e.g. 9090, 127.0.0.1:9090, [::1]:9090 or 0.0.0.0:9090 (port 0-65535; 0: any free port)"


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


@dataclass(frozen=True, slots=True)
class HttpAccess:
    """Who may use the HTTP side (see :mod:`wsdat_core.http.access`)."""

    #: Wanted as ``Authorization: Bearer TOKEN`` by every endpoint but /healthz and /metrics (None: no token).
    token: str | None = None
    #: Serve an interface other than loopback without a token (``--http-open``).
    open: bool = False
    #: ``Host`` names answered besides this machine's own (``--http-host``, ``[service] http_hosts``).
    hosts: tuple[str, ...] = ()


def check_token(value: object, name: str = "http_token") -> str:
    """``value`` as a token; ``ValueError`` naming ``name`` and saying what a token is."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        shown = f"{len(value)} characters" if isinstance(value, str) else repr(value)
        raise ValueError(f"{name}: a token of {shown} is not allowed; expected {_TOKEN_ALLOWED}")
    return value


def check_access(address: HttpAddress, access: HttpAccess) -> None:
    """Refuse (``ValueError``, one line) to serve an interface other than loopback without a token, unless told."""
    if not address.loopback and access.token is None and not access.open:
        raise ValueError(f"http: {address.bind} is reachable from other machines, so it needs a token: "
                         f"--http-token TOKEN, [service] http_token or {TOKEN_ENV}; or --http-open to serve it "
                         "without one")


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
