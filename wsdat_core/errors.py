"""The error types of wsdat.

Every failure a user can cause or meet has a type here, so callers can catch exactly what they mean and the CLI can
turn any of them into one clear line. All of them derive from :class:`WsdatError`.
"""

from __future__ import annotations

__all__ = [
    "ConnectError",
    "ConnectionClosedError",
    "ConnectTimeout",
    "HandshakeRejected",
    "ParameterError",
    "PluginError",
    "ProtocolError",
    "ServiceFileError",
    "TLSError",
    "WsdatError",
]


class WsdatError(Exception):
    """Base class of every error raised by wsdat."""


class ParameterError(WsdatError, ValueError):
    """A parameter got a value it does not allow.

    The message names the parameter, the rejected value and what is allowed, e.g.
    ``port: 70000 is not allowed; expected an integer from 1 to 65535``.
    """

    def __init__(self, name: str, value: object, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}: {value!r} is not allowed; expected {allowed}")


class PluginError(WsdatError):
    """A callbacks plugin could not be loaded or does not fit the hook specifications."""


class ConnectError(WsdatError):
    """A connection could not be opened (network, TLS or handshake failure)."""

    #: True when retrying cannot help (TLS verification failed, the server rejected us with a 4xx status).
    fatal: bool = False


class ConnectTimeout(ConnectError):
    """The connect ``timeout`` expired before the WebSocket handshake completed."""


class TLSError(ConnectError):
    """The TLS handshake failed, for example because the certificate could not be verified."""

    fatal = True


class HandshakeRejected(ConnectError):
    """The server answered the WebSocket upgrade request with an HTTP status other than 101."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        # 4xx means "you asked wrongly": asking again the same way will not help. 5xx and others may pass.
        self.fatal = 400 <= status < 500
        super().__init__(message)


class ConnectionClosedError(WsdatError):
    """The connection ended (or was never open) before a message could be written: ``await dat.send_text(...)``
    raises it, and the message was not sent."""


class ProtocolError(WsdatError):
    """The peer broke the WebSocket protocol (RFC 6455) after the handshake."""


class ServiceFileError(WsdatError, ValueError):
    """A service file (``wsdat run service.toml``) is malformed; the message names the key and the line."""
