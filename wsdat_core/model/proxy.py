"""Which proxy a connection goes through: the ``proxy`` parameter, or the environment as websockets and requests
read it.

``proxy`` is

* ``""`` (the default): from the environment. For ``wss`` URLs ``wss_proxy``, then ``https_proxy``; for ``ws`` URLs
  ``ws_proxy``, then ``http_proxy``; then ``all_proxy`` (each also in upper case; lower case wins). ``no_proxy``
  lists hosts (and domain suffixes, ``*`` for all) that are reached directly;
* ``"off"``: never a proxy;
* a URL: ``http://[user:pass@]host:port`` (HTTP CONNECT, with Proxy-Authorization), ``https://...`` (the same over
  TLS to the proxy), ``socks5://`` (the proxy resolves nothing: wsdat resolves the host), ``socks5h://`` (the proxy
  resolves the host name), ``socks4://`` / ``socks4a://``.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

from .address import Endpoint, port_in, shown_userinfo
from .errors import ParameterError

__all__ = ["OFF", "PROXY_SCHEMES", "ProxySpec", "check_proxy", "parse_proxy", "proxy_for"]

OFF: Final = "off"
PROXY_SCHEMES: Final = {"http": 8080, "https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}
_ALLOWED: Final = ("'' (from the environment), 'off', or a proxy URL: http://host:port (user:password@ before the host "
                   "to log in), https://..., socks5://, socks5h://, socks4://")


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A proxy to connect through."""

    scheme: str
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """The proxy's URL to show: the password reads ``***``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{shown_userinfo(self.username, self.password)}{host}:{self.port}"

    @property
    def remote_dns(self) -> bool:
        """The proxy resolves the destination's host name (socks5h, socks4a, and HTTP proxies)."""
        return self.scheme in ("socks5h", "socks4a", "http", "https")


def parse_proxy(text: str, name: str = "proxy") -> ProxySpec:
    """A proxy URL as a :class:`ProxySpec`; :class:`ParameterError` naming ``name`` when it is not one."""
    try:
        parts = urlsplit(text.strip())
        port = port_in(parts)
    except ValueError as exc:  # bad brackets, or a port that is not from 1 to 65535
        raise ParameterError(name, text, f"{_ALLOWED} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ParameterError(name, text, _ALLOWED + (f" ({scheme}:// is not supported)" if scheme else ""))
    if not parts.hostname:
        raise ParameterError(name, text, _ALLOWED + " (the host is missing)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ParameterError(name, text, _ALLOWED + " (a proxy URL has no path)")
    return ProxySpec(scheme, parts.hostname, port or PROXY_SCHEMES[scheme], unquote(parts.username or ""),
                     unquote(parts.password or ""))


def check_proxy(name: str, value: object) -> str:
    """The ``proxy`` parameter's check: ``""``, ``"off"`` or a proxy URL."""
    if not isinstance(value, str):
        raise ParameterError(name, value, _ALLOWED)
    text = value.strip()
    if text.lower() in ("", OFF):
        return text.lower()
    parse_proxy(text, name)
    return text


def _environment_value(environ: Mapping[str, str], key: str) -> str:
    return environ.get(key) or environ.get(key.upper()) or ""


def proxy_for(setting: str, endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> ProxySpec | None:
    """The proxy a connection to ``endpoint`` goes through, by the ``proxy`` parameter's ``setting``; None: direct.

    >>> from wsdat_core.model.address import resolve_url
    >>> proxy_for("", resolve_url("wss://example.com/"), {"https_proxy": "http://proxy:3128"}).url
    'http://proxy:3128'
    """
    if setting == OFF:
        return None
    if setting:
        return parse_proxy(setting)
    environ = os.environ if environ is None else environ
    keys = ("wss_proxy", "https_proxy") if endpoint.secure else ("ws_proxy", "http_proxy")
    value = next((v for v in (_environment_value(environ, key) for key in (*keys, "all_proxy")) if v), "")
    if not value:
        return None
    no_proxy = _environment_value(environ, "no_proxy")
    bypass: Callable[[str, dict[str, str]], bool] = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009
    if no_proxy and (no_proxy.strip() == "*" or bypass(f"{endpoint.host}:{endpoint.port}", {"no": no_proxy})):
        return None
    if "://" not in value:  # "proxy:3128", as curl takes it
        value = "http://" + value
    return parse_proxy(value, "proxy (from the environment)")

