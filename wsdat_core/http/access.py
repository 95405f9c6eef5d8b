"""Who may use the HTTP side: the ``Host`` allow-list, same-origin POSTs and the token.

Every request passes three checks, in this order:

1. ``Host`` names this machine (421 otherwise): ``localhost``, the loopback addresses, the address bound, the
   machine's own host names, names added with ``--http-host`` / ``[service] http_hosts``, and, on an interface other
   than loopback, any IP address. A page of ``attacker.example`` whose name was made to resolve to this machine (DNS
   rebinding) sends ``Host: attacker.example`` and is refused.
2. The token, when there is one (required on an interface other than loopback, see
   :func:`~wsdat_core.http.address.check_access`): every endpoint but ``/healthz`` and ``/metrics`` wants
   ``Authorization: Bearer TOKEN`` (401 otherwise). A browser opens the live page as ``/?token=TOKEN``; that answer
   sets an HttpOnly, SameSite=Strict cookie which the page's own GET requests (its script, its event stream) carry.
   A POST always needs the header, so no other site can make a browser send one. Tokens are compared in constant time.
3. A POST carrying an ``Origin`` comes from the same origin (403 otherwise); the routes also want JSON bodies (415).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .address import HttpAccess, HttpAddress

__all__ = ["OPEN_PATHS", "TOKEN_COOKIE", "AccessGuard", "allowed_hosts"]

#: Paths served without the token: a supervisor's health check and Prometheus' scraper.
OPEN_PATHS: Final = frozenset({"/healthz", "/metrics"})
TOKEN_COOKIE: Final = "wsdat_token"
SECURITY_HEADERS: Final = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                           "Cache-Control": "no-store"}
_LOCAL_NAMES: Final = ("localhost", "127.0.0.1", "::1")


def refusal(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A refused request: ``{"error": message}``, one line."""
    return JSONResponse({"error": message}, status, headers={**SECURITY_HEADERS, **(headers or {})})


def allowed_hosts(address: HttpAddress, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` names the HTTP side on ``address`` answers to (lower case, without port)."""
    names = {*_LOCAL_NAMES, address.host, *extra}
    if not address.loopback:  # reached from elsewhere: by this machine's own names too
        names.update((socket.gethostname(), socket.getfqdn()))
    return frozenset(name.strip().lower().rstrip(".") for name in names if name.strip())


def host_of(value: str) -> str:
    """The host of a ``Host`` header (``[::1]:80`` -> ``::1``), lower case, without a final dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return (value.rsplit(":", 1)[0] if value.count(":") == 1 else value).rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


class AccessGuard:
    """The ASGI middleware applying the three checks of this module to every HTTP request."""

    def __init__(self, app: ASGIApp, address: HttpAddress, access: HttpAccess) -> None:
        self.app = app
        self.loopback = address.loopback
        self.hosts = allowed_hosts(address, access.hosts)
        self.token = access.token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refused = self._refused(scope, headers)
        if refused is not None:
            await refused(scope, receive, send)
            return
        if self.token is not None and _same(self._token_in_query(scope), self.token):
            send = self._setting_cookie(send)
        await self.app(scope, receive, send)

    def _refused(self, scope: Scope, headers: dict[str, str]) -> JSONResponse | None:
        host = host_of(headers.get("host", ""))
        if host not in self.hosts and (self.loopback or not _is_ip(host)):
            shown = repr(host) if len(host) <= 100 else f"{host[:60]!r}... ({len(host)} characters)"
            return refusal(421, f"this server does not answer to the host {shown}; it answers to "
                                f"{', '.join(sorted(self.hosts))}{'' if self.loopback else ' and IP addresses'} "
                                "(--http-host adds a name)")
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            problem = self._token_problem(scope, headers)
            if problem is not None:
                return refusal(401, problem, {"WWW-Authenticate": 'Bearer realm="wsdat"'})
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin is not None and \
                origin.split("://", 1)[-1].lower() != headers.get("host", "").lower():
            return refusal(403, "cross-origin requests are refused")
        return None

    def _token_problem(self, scope: Scope, headers: dict[str, str]) -> str | None:
        assert self.token is not None
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else None
        if given is None and scope["method"] in ("GET", "HEAD"):  # a browser: the page's link, then its cookie
            given = self._token_in_query(scope) or _cookie(headers.get("cookie", ""), TOKEN_COOKIE)
        if given is None:
            return "this server wants its token: send Authorization: Bearer TOKEN (open the live page as /?token=TOKEN)"
        return None if _same(given, self.token) else "the token is wrong"

    @staticmethod
    def _token_in_query(scope: Scope) -> str | None:
        query = scope.get("query_string", b"").decode("latin-1")
        values = parse_qs(query).get("token") if "token=" in query else None
        return values[0] if values else None

    def _setting_cookie(self, send: Send) -> Send:
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        return sending
