"""Opening a client connection: TCP (directly or through a proxy), TLS, the opening handshake, redirects.

Redirect and credential policy live here, in one place, as httpx keeps them: a redirect (301, 302, 303, 307, 308) is
followed up to ``maxredirects`` times; ``wss`` to ``ws`` is refused (a downgrade); a redirect to another origin
(scheme, host or port) drops the credentials: the URL's ``user:password``, and the ``Authorization``, ``Cookie``,
``Proxy-Authorization`` headers and those the user marked secret, as browsers, requests and websockets do.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import urljoin, urlsplit, urlunsplit

import trio

from .._version import __version__
from ..model.address import Endpoint, resolve_url
from ..model.errors import ConnectError, HandshakeRejected, TLSError, WsdatError
from ..model.proxy import ProxySpec
from ..model.secrets import is_credential_header
from ..protocol.client import ClientProtocol, State
from ..protocol.handshake import HandshakeRequest
from .driver import RECEIVE_BUFFER, Link
from .transport import open_stream

__all__ = ["REDIRECTS", "USER_AGENT", "ConnectOptions", "connect", "make_ssl_context", "redirect_target",
           "same_origin"]

USER_AGENT: Final = f"wsdat/{__version__}"
Transport = Callable[[Endpoint, Callable[[], ssl.SSLContext], ProxySpec | None], Awaitable[trio.abc.Stream]]
#: Answers to the upgrade request that send the client elsewhere.
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def make_ssl_context(cafile: str | None = None, certfile: str | None = None, keyfile: str | None = None,
                     insecure: bool = False) -> ssl.SSLContext:
    """A client TLS context: the system trust store (or ``cafile``), host name checks on, optional client certificate.

    ``insecure`` turns certificate and host name checks off. Raises :class:`TLSError` when a file cannot be used.
    """
    try:
        context = ssl.create_default_context(cafile=cafile)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load TLS files (cafile={cafile!r}, certfile={certfile!r}): {exc}") from exc
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Everything one connection attempt needs, taken from the parameters when the attempt starts."""

    endpoint: Endpoint
    #: Makes the TLS context, when the endpoint (or one redirected to) is ``wss``.
    tls: Callable[[], ssl.SSLContext] = make_ssl_context
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    max_message_size: int = 16 * 1024 * 1024
    #: Keepalive: seconds between pings (0: off) and seconds to wait for the pong (0: do not wait).
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    #: Offer permessage-deflate (RFC 7692).
    compression: bool = True
    proxy: ProxySpec | None = None
    #: Redirects (301, 302, 303, 307, 308) followed at most.
    max_redirects: int = 10
    #: Header names (besides Authorization, Cookie, Proxy-Authorization) that carry credentials.
    secret_headers: tuple[str, ...] = ()
    #: Opens the byte stream under the WebSocket (the transport seam: tests pass an in-memory stream).
    transport: Transport = open_stream

    def handshake_headers(self) -> tuple[tuple[str, str], ...]:
        """The user's headers plus ``User-Agent``, ``Origin`` and (for credentials in the URL) ``Authorization``
        unless the user gave them."""
        given = {name.lower() for name, _ in self.headers}
        headers = list(self.headers)
        if "user-agent" not in given:
            headers.append(("User-Agent", USER_AGENT))
        if "origin" not in given:
            headers.append(("Origin", self.endpoint.origin))
        authorization = self.endpoint.authorization
        if authorization and "authorization" not in given:
            headers.append(("Authorization", authorization))
        return tuple(headers)

    def redirected(self, target: Endpoint) -> ConnectOptions:
        """The options for following a redirect to ``target``: credentials go along only to the same origin."""
        if same_origin(self.endpoint, target):
            return replace(self, endpoint=target)
        headers = tuple((name, value) for name, value in self.headers
                        if not is_credential_header(name, self.secret_headers))
        return replace(self, endpoint=replace(target, username="", password=""), headers=headers)


def same_origin(a: Endpoint, b: Endpoint) -> bool:
    """Same scheme, host and port."""
    return a.secure == b.secure and a.host.lower() == b.host.lower() and a.port == b.port


def redirect_target(endpoint: Endpoint, location: str) -> Endpoint:
    """Where a ``Location`` answer sends a connection to ``endpoint``: relative references resolve against it,
    ``http``/``https`` mean ``ws``/``wss`` (as websockets and browsers take them). The URL's credentials go along to
    the same origin only. Raises :class:`ConnectError` for a location that is not a WebSocket address."""
    base = urlunsplit(("https" if endpoint.secure else "http", endpoint.netloc, endpoint.resource, "", ""))
    absolute = urljoin(base, location.strip())
    parts = urlsplit(absolute)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    try:
        target = resolve_url(urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")))
    except WsdatError as exc:
        raise ConnectError(f"redirected to {location!r}, which is not a WebSocket address: {exc}", fatal=True) \
            from None
    if same_origin(endpoint, target) and not (target.username or target.password):
        target = replace(target, username=endpoint.username, password=endpoint.password)
    return target


async def connect(options: ConnectOptions, report: Callable[[str], None] = lambda line: None) -> Link:
    """Connect (TCP or proxy, TLS, WebSocket handshake; redirects followed) and return an open :class:`Link`.
    ``report`` gets one line per redirect.

    The caller bounds the time (``trio.fail_after``). Raises :class:`ConnectError` (or a subclass) on failure.
    """
    for hop in range(options.max_redirects + 1):
        try:
            return await _open_once(options)
        except HandshakeRejected as exc:
            if exc.status not in REDIRECTS or not exc.location or not options.max_redirects:
                raise
            endpoint = options.endpoint
            target = redirect_target(endpoint, exc.location)
            if endpoint.secure and not target.secure:
                raise ConnectError(f"refused to follow a redirect from {endpoint.url} to {target.url}: wss to ws "
                                   "would drop TLS (downgrade)", fatal=True) from None
            if hop == options.max_redirects:
                raise ConnectError(f"too many redirects (maxredirects {options.max_redirects}); the last one was to "
                                   f"{target.url}", fatal=True) from None
            report(f"redirected with HTTP {exc.status} from {endpoint.url} to {target.url}")
            options = options.redirected(target)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def _open_once(options: ConnectOptions) -> Link:
    endpoint = options.endpoint
    stream = await options.transport(endpoint, options.tls, options.proxy)
    try:
        protocol = ClientProtocol(HandshakeRequest(endpoint.host_header, endpoint.resource,
                                                   options.handshake_headers(), options.subprotocols,
                                                   options.compression),
                                  max_message_size=options.max_message_size)
        await stream.send_all(protocol.connect())
        received = 0
        first = []
        while protocol.state is State.CONNECTING:
            try:
                data: bytes | bytearray = await stream.receive_some(RECEIVE_BUFFER)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            received += len(data)
            if not data:
                protocol.receive_eof()  # raises: the server left during the handshake
            first = protocol.receive_data(bytes(data))
        reply = protocol.data_to_send()  # the server closed at once: its close frame is answered
        if reply:
            await stream.send_all(reply)
    except BaseException:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
        raise
    # Connected, even if the server already closed again: what arrived with the handshake is still delivered.
    return Link(stream, protocol, endpoint, first=first, received=received,
                keepalive=(options.ping_interval, options.ping_timeout))
