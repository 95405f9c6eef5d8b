"""The error types of wsdat.

Every failure a user can cause or meet has a type here, so callers can catch exactly what they mean and the CLI can
turn any of them into one clear line. All of them derive from :class:`WsdatError`, whose text never shows a secret:
URL passwords read ``***`` (``str(error)``, wherever the error is printed, logged or answered), and a refused value
is shown with its credentials masked (:mod:`wsdat_core.model.secrets`).
"""

from __future__ import annotations

from .secrets import mask_text, mask_value

__all__ = [
    "ConnectError",
    "ConnectionClosedError",
    "ConnectTimeout",
    "HandshakeRejected",
    "ParameterError",
    "PluginError",
    "ProtocolError",
    "ServiceFileError",
    "TDOnlyError",
    "TLSError",
    "TRANSIENT_STATUSES",
    "WsdatError",
]


class WsdatError(Exception):
    """Base class of every error raised by wsdat."""

    def __str__(self) -> str:
        # Messages quote what the user gave (URLs, settings); a password in them is never shown back.
        return mask_text(super().__str__())


class ParameterError(WsdatError, ValueError):
    """A parameter got a value it does not allow.

    The message names the parameter, the rejected value and what is allowed, e.g.
    ``port: 70000 is not allowed; expected an integer from 1 to 65535``; :attr:`detail` is the same without the name.
    The value is shown with its secrets masked (``'ws://u:***@host:99999/'``, ``{'Authorization': 'Bearer ***'}``);
    :attr:`value` keeps it as given.
    """

    def __init__(self, name: str, value: object, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        shown = repr(mask_value(value))
        if len(shown) > 80:  # a 400-digit number is named, not printed whole
            shown = f"{shown[:40]}...{shown[-20:]} ({len(shown)} characters)"
        #: ``'...' is not allowed; expected ...``: the message without the parameter's name.
        self.detail = mask_text(f"{shown} is not allowed; expected {allowed}")
        super().__init__(f"{name}: {self.detail}")


class PluginError(WsdatError):
    """A callbacks plugin could not be loaded or does not fit the hook specifications."""


class ConnectError(WsdatError):
    """A connection could not be opened (network, proxy, TLS or handshake failure)."""

    #: True when retrying cannot help (TLS verification failed, the server refused us with 401/403/404/426..., the
    #: proxy wants credentials): the DAT waits for a parameter change instead of reconnecting.
    fatal: bool = False
    #: Seconds the server asked us to wait before trying again (``Retry-After``), if it said.
    retry_after: float | None = None

    def __init__(self, message: str, *, fatal: bool | None = None) -> None:
        super().__init__(message)
        if fatal is not None:
            self.fatal = fatal


class ConnectTimeout(ConnectError):
    """The connect ``timeout`` expired before the WebSocket handshake completed."""


class TLSError(ConnectError):
    """The TLS handshake failed: fatal when the certificate could not be verified, retried when the handshake was cut
    short (a reset or EOF, as a restarting server or a load balancer does)."""

    fatal = True


#: HTTP answers to the upgrade request that a retry may well get past: timeouts, rate limits, overload.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class HandshakeRejected(ConnectError):
    """The server answered the WebSocket upgrade request with an HTTP status other than 101."""

    def __init__(self, status: int, message: str, *, location: str | None = None,
                 retry_after: float | None = None) -> None:
        # 4xx means "you asked wrongly": asking again the same way will not help, except for the transient ones.
        super().__init__(message, fatal=400 <= status < 500 and status not in TRANSIENT_STATUSES)
        self.status = status
        self.location = location
        self.retry_after = retry_after


class ConnectionClosedError(WsdatError):
    """The connection ended (or was never open) before a message could be written: ``await dat.send_text(...)``
    raises it, and the message was not sent."""


class TDOnlyError(WsdatError):
    """A TouchDesigner feature with no meaning outside TouchDesigner was used (``parent()``, ``project``, ``ui``,
    ``tdu``, ``run``); the message says what to use in wsdat instead."""


class ProtocolError(WsdatError):
    """The peer broke the WebSocket protocol (RFC 6455) after the handshake."""


class ServiceFileError(WsdatError, ValueError):
    """A service file (``wsdat run service.toml``) is malformed; the message names the key and the line."""
