"""Where a DAT connects: ``netaddress`` + ``port`` made into a WebSocket endpoint.

TouchDesigner's rule, made precise:

* no scheme in ``netaddress``: ``wss`` when the port is 443, else ``ws``; the ``port`` parameter is used unless
  ``netaddress`` writes a port;
* an explicit ``ws://`` or ``wss://`` scheme wins over the 443 rule;
* a port written in ``netaddress`` wins over the ``port`` parameter; with an explicit ``wss://`` and the ``port``
  parameter left at TD's default of 80, port 443 is used (TLS on port 80 is never what a user means);
* path and query are kept (``/`` when there is no path); fragments are not allowed in WebSocket URLs (RFC 6455 3);
* IPv6 literals are written in brackets (``[::1]:8080``); a bare IPv6 address without scheme or port is accepted too;
  a link-local address names its interface with a zone id as RFC 6874 writes it, ``[fe80::1%25eth0]`` (``%25`` is an
  escaped ``%``; the plain ``[fe80::1%eth0]`` works too); the zone id is used to connect and left out of ``Host``
  (it means nothing to the server, as Python's http.client and curl do);
* a port written in ``netaddress`` is from 1 to 65535;
* ``user:password@`` before the host is sent as HTTP Basic authorization (percent-escapes decoded); wherever the URL is
  shown (:attr:`Endpoint.url`: monitor lines, the live view, logs) the password reads ``***``.

Pure: no sockets, no DNS.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, quote, unquote, urlsplit

from .errors import ParameterError

__all__ = ["DEFAULT_PORT", "PORT_RANGE", "Endpoint", "port_in", "resolve_url", "shown_userinfo"]

DEFAULT_PORT = 80
_SECURE_PORT = 443
_SCHEMES = ("ws", "wss")
# RFC 1123 host names plus "_" (seen in real internal names); IDN names must be given in their ASCII (punycode) form.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$")
# Characters kept as they are in a path or query (RFC 3986 pchar, '%' for escapes already there).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_PORT_SUFFIX = re.compile(r":[0-9]*")  # what may follow "[IPv6]" in a netloc (urlsplit checks the number itself)
_ALLOWED = "a host name, IPv4 address or [IPv6] address, optionally with ws:// or wss://, :port and /path"
#: What a port may be, wherever one is written (0 is refused: it means "any port" only to a listening socket).
PORT_RANGE = "a port from 1 to 65535"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resolved WebSocket address."""

    scheme: str
    host: str
    port: int
    resource: str = "/"
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def secure(self) -> bool:
        """True when the connection uses TLS (``wss``)."""
        return self.scheme == "wss"

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def netloc(self) -> str:
        """``host:port`` with IPv6 hosts in brackets (a zone id written ``%25``, RFC 6874); the port is always
        written."""
        host = f"[{self.host.replace('%', '%25', 1)}]" if self.is_ipv6 else self.host
        return f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The HTTP ``Host`` header: the port is left out when it is the scheme's default (RFC 6455 4.1), and so is
        an IPv6 zone id."""
        host = f"[{self.host.partition('%')[0]}]" if self.is_ipv6 else self.host
        default = _SECURE_PORT if self.secure else DEFAULT_PORT
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """The ``Origin`` a browser would send for a page served from the same place."""
        return f"{'https' if self.secure else 'http'}://{self.host_header}"

    @property
    def url(self) -> str:
        """The full URL to show, port always written, password masked: ``wss://bob:***@example.com:443/feed?x=1``."""
        return f"{self.scheme}://{shown_userinfo(self.username, self.password)}{self.netloc}{self.resource}"

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header value for credentials in the URL (HTTP Basic), or None."""
        if not self.username and not self.password:
            return None
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"

    def __str__(self) -> str:
        return self.url


def shown_userinfo(username: str, password: str) -> str:
    """``user:***@`` (or ``user@``, or nothing) to show in a URL: a password is never shown."""
    if password:
        return f"{username}:***@"
    return f"{username}@" if username else ""


def _check_port(value: object, name: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ParameterError(name, value, "an integer from 1 to 65535")
    return value


def port_in(parts: SplitResult) -> int | None:
    """The port written in a split URL (None when none is); ``ValueError`` saying "a port from 1 to 65535 after the
    host" for anything else, 0 included (urlsplit alone accepts 0 and says "0-65535")."""
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None or port > 0:
        return port
    written = parts.netloc.rpartition("]")[2].rpartition(":")[2]
    raise ValueError(f"{PORT_RANGE} after the host ({written!r} is not in 1-65535)")


def resolve_url(netaddress: str, port: int = DEFAULT_PORT) -> Endpoint:
    """Resolve TD's ``netaddress`` and ``port`` parameters into an :class:`Endpoint`.

    >>> resolve_url("localhost", 8080).url
    'ws://localhost:8080/'
    >>> resolve_url("example.com", 443).url
    'wss://example.com:443/'
    >>> resolve_url("ws://[::1]:9000/feed?x=1", 80).url
    'ws://[::1]:9000/feed?x=1'

    Raises :class:`~wsdat_core.model.errors.ParameterError` naming ``netaddress`` or ``port``.
    """
    _check_port(port)
    if not isinstance(netaddress, str):
        raise ParameterError("netaddress", netaddress, _ALLOWED)
    text = netaddress.strip()
    if not text:
        raise ParameterError("netaddress", netaddress, _ALLOWED + " (it is empty)")
    if any(ch.isspace() for ch in text):
        raise ParameterError("netaddress", netaddress, _ALLOWED + " (no white space)")

    scheme_given, sep, rest = text.partition("://")
    if sep:
        scheme = scheme_given.lower()
        if scheme in ("http", "https"):
            raise ParameterError(
                "netaddress", netaddress,
                f"a ws:// or wss:// URL ({scheme}:// is not a WebSocket scheme; use "
                f"{'wss' if scheme == 'https' else 'ws'}://)")
        if scheme not in _SCHEMES:
            raise ParameterError("netaddress", netaddress,
                                 f"a ws:// or wss:// URL ({scheme_given}:// is not supported)")
    else:
        rest = text
        bare_ipv6 = _bare_ipv6(text)
        if bare_ipv6 is not None:
            return Endpoint("wss" if port == _SECURE_PORT else "ws", bare_ipv6, port)
        scheme = ""  # decided by the port actually used: 443 implies TLS
    if rest.split("/", 1)[0].rsplit("@", 1)[-1].count(":") >= 2 and "[" not in rest:
        raise ParameterError("netaddress", netaddress, "IPv6 addresses written in brackets, e.g. ws://[::1]:8080/")

    try:
        parts = urlsplit("//" + rest)
    except ValueError as exc:  # bad brackets
        raise ParameterError("netaddress", netaddress, f"{_ALLOWED} ({exc})") from None
    try:
        written_port = port_in(parts)
    except ValueError as exc:
        raise ParameterError("netaddress", netaddress, str(exc)) from None
    if parts.fragment or "#" in rest:
        raise ParameterError("netaddress", netaddress,
                             _ALLOWED + " (fragments '#...' are not allowed in WebSocket URLs)")
    host = _check_host(parts.netloc, parts.hostname, netaddress)
    if written_port is not None:
        effective_port = written_port
    elif sep and scheme == "wss" and port == DEFAULT_PORT:
        effective_port = _SECURE_PORT
    else:
        effective_port = port
    if not scheme:
        scheme = "wss" if effective_port == _SECURE_PORT else "ws"
    resource = quote(parts.path or "/", safe=_PATH_SAFE)  # non-ASCII percent-encoded, as browsers do
    if parts.query:
        resource += "?" + quote(parts.query, safe=_PATH_SAFE + "?")
    return Endpoint(scheme, host, effective_port, resource, unquote(parts.username or ""),
                    unquote(parts.password or ""))


def _bare_ipv6(text: str) -> str | None:
    if text.count(":") < 2 or "[" in text or "/" in text:
        return None
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def _check_host(netloc: str, hostname: str | None, netaddress: str) -> str:
    host_part = netloc.rsplit("@", 1)[-1]
    if host_part.startswith("["):
        close = host_part.find("]")
        literal = host_part[1:close] if close > 0 else ""
        address_part, escaped, zone = literal.partition("%25")
        if escaped:  # RFC 6874: "%25" then the zone id, itself percent-encoded
            literal = f"{address_part}%{unquote(zone)}" if zone else address_part + "%"
        try:
            address = str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise ParameterError("netaddress", netaddress,
                                 f"a valid IPv6 address in brackets ({literal!r} is not one)") from None
        rest = host_part[close + 1:]
        if rest and not _PORT_SUFFIX.fullmatch(rest):
            raise ParameterError("netaddress", netaddress,
                                 f"[IPv6 address] followed by nothing or :port ({rest!r} follows it)")
        return address
    if not hostname:
        raise ParameterError("netaddress", netaddress, _ALLOWED + " (the host is missing)")
    if hostname.count(":") >= 1 or "]" in host_part:
        raise ParameterError("netaddress", netaddress, "IPv6 addresses written in brackets, e.g. [::1]:8080")
    # urlsplit lower-cases hostname; keep the user's spelling for SNI and Host, which are case-insensitive anyway.
    original = host_part.rsplit(":", 1)[0] if host_part.count(":") == 1 else host_part
    if not _HOSTNAME.match(original):
        raise ParameterError("netaddress", netaddress, _ALLOWED + f" ({original!r} is not a valid host name)")
    return original
