"""The byte stream under a WebSocket: TCP, directly or through a proxy (HTTP CONNECT or SOCKS, by python-socks'
trio backend), then TLS for ``wss``. Every failure becomes a :class:`~.errors.ConnectError` with one clear
line; ``fatal`` only where retrying cannot mend it (a certificate that does not verify, a proxy asking for
credentials).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import trio
from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.async_.trio.v2 import Proxy as TrioProxy

from ..model.address import Endpoint
from ..model.errors import ConnectError, TLSError
from ..model.proxy import ProxySpec

__all__ = ["open_stream"]

_PROXY_TYPES = {"http": ProxyType.HTTP, "https": ProxyType.HTTP, "socks4": ProxyType.SOCKS4,
                "socks4a": ProxyType.SOCKS4, "socks5": ProxyType.SOCKS5, "socks5h": ProxyType.SOCKS5}


async def open_stream(endpoint: Endpoint, tls: Callable[[], ssl.SSLContext], proxy: ProxySpec | None = None
                      ) -> trio.abc.Stream:
    """A connected stream to ``endpoint`` (through ``proxy``; TLS for ``wss`` and ``https`` proxies, with contexts
    made by ``tls``, so ``cafile`` & co. apply to the proxy too).

    The caller bounds the time. Raises :class:`ConnectError` (or :class:`TLSError`) on failure.
    """
    ssl_context = tls() if endpoint.secure else None  # a TLS file that cannot be read fails before connecting
    stream: trio.abc.Stream = await (_through(proxy, endpoint, tls) if proxy else _direct(endpoint))
    if ssl_context is None:
        return stream
    secured = trio.SSLStream(stream, ssl_context, server_hostname=endpoint.host, https_compatible=True)
    try:
        await secured.do_handshake()
    except trio.BrokenResourceError as exc:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
        raise _tls_error(exc, endpoint) from exc
    except BaseException:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
        raise
    return secured


async def _direct(endpoint: Endpoint) -> trio.SocketStream:
    try:
        return await trio.open_tcp_stream(endpoint.host, endpoint.port)
    except OSError as exc:
        raise ConnectError(_describe_os_error(exc, endpoint)) from exc


async def _through(proxy: ProxySpec, endpoint: Endpoint, tls: Callable[[], ssl.SSLContext]) -> trio.abc.Stream:
    proxy_ssl = tls() if proxy.scheme == "https" else None
    client = TrioProxy(_PROXY_TYPES[proxy.scheme], proxy.host, proxy.port, proxy.username or None,
                       proxy.password or None, rdns=proxy.remote_dns, proxy_ssl=proxy_ssl)
    try:
        connected = await client.connect(endpoint.host, endpoint.port, timeout=3600)
    except ProxyError as exc:
        status = getattr(exc, "error_code", None)
        if status == 407:
            error = ConnectError(f"proxy {proxy.url} refused: 407 Proxy Authentication Required (check the "
                                 "user:password in the proxy URL)")
            error.fatal = True
            raise error from exc
        raise ConnectError(f"proxy {proxy.url} refused the connection to {endpoint.netloc}: {exc}") from exc
    except ProxyConnectionError as exc:
        raise ConnectError(f"cannot connect to proxy {proxy.url}: {exc}") from exc
    except ProxyTimeoutError as exc:
        raise ConnectError(f"proxy {proxy.url} timed out: {exc}") from exc
    except (OSError, ssl.SSLError, trio.BrokenResourceError) as exc:
        raise ConnectError(f"cannot connect through proxy {proxy.url}: {exc}") from exc
    stream: trio.abc.Stream = connected.trio_stream
    return stream


def _describe_os_error(exc: OSError, endpoint: Endpoint) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {endpoint.host!r}: {exc.strerror or exc}"
    causes = [exc]
    if isinstance(exc.__cause__, BaseExceptionGroup):
        causes = [e for e in exc.__cause__.exceptions if isinstance(e, OSError)] or causes
    if all(isinstance(e, ConnectionRefusedError) for e in causes):
        return f"connection refused by {endpoint.netloc}"
    reason = "; ".join(sorted({c.strerror or str(c) for c in causes}))
    return f"cannot connect to {endpoint.netloc}: {reason}"


def _tls_error(exc: BaseException, endpoint: Endpoint) -> TLSError:
    """A certificate that does not verify is fatal; a handshake cut short (a reset, an EOF: a server restarting, a
    load balancer) or refused is retried."""
    cause = exc.__cause__ or exc.__context__ or exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return TLSError(f"TLS certificate verification failed for {endpoint.host}: {cause.verify_message}")
    if isinstance(cause, ssl.SSLError) and cause.reason:
        return TLSError(f"TLS handshake with {endpoint.netloc} failed: {cause.reason}", fatal=False)
    return TLSError(f"TLS handshake with {endpoint.netloc} failed: the connection was closed during the "
                    "handshake", fatal=False)
