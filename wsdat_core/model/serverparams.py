"""The Web Server DAT's parameter pages: TouchDesigner's names (``active``, ``restart``, ``port``, ``secure``,
``certificate``, ``privatekey``, ``callbacks``, ``executeloc``, ``fromop``) plus wsdat's own where users need them
(``address``, ``maxclients``, ``maxmessagesize``, ``sendqueuebytes``, ``pinginterval``, ``pingtimeout``,
``compression``, ``timeout``, ``static`` and the table's).

Parameters shared with the WebSocket DAT are its specs (:data:`~.params.SPECS`), with the help text saying what they
do on a server; :class:`ServerParameters` is :class:`~.params.Parameters` over :data:`SERVER_SPECS`, so ``par``
behaves the same on both kinds of DAT (checked when set, ``dat.par.port = 9981``, pulses, listeners).
Pure: no trio, no sockets.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar, Final

from .address import Endpoint
from .checks import integer
from .errors import ParameterError
from .params import SPECS, Effect, Parameters, ParSpec, check_execute_from

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_SERVER_PORT", "SERVER_SPECS", "ServerParameters"]

#: TouchDesigner's default port of a Web Server DAT.
DEFAULT_SERVER_PORT: Final = 9980
#: Loopback only, unless another interface is named.
DEFAULT_ADDRESS: Final = "127.0.0.1"
#: Where clients on this machine reach a server listening on every interface.
_WILDCARDS: Final = {"0.0.0.0": "127.0.0.1", "::": "::1"}
_HOSTNAME: Final = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


def _address(name: str, value: object) -> str:
    allowed = ("a host name or IP address of this machine to listen on (127.0.0.1, ::1, localhost; 0.0.0.0 or :: for "
               "every interface)")
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(name, value, allowed)
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not _HOSTNAME.match(text):
        raise ParameterError(name, value, allowed)
    return text


def _folder(name: str, value: object) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, (str, os.PathLike)):
        raise ParameterError(name, value, "a path to an existing folder, or '' (none)")
    path = os.fspath(value)
    if not isinstance(path, str) or not os.path.isdir(path):
        raise ParameterError(name, value, "a path to an existing folder, or '' (none; no such folder)")
    return os.path.abspath(path)


def _shared(name: str, help_text: str | None = None, *, page: str | None = None, **changes: Any) -> ParSpec:
    """The WebSocket DAT's spec of ``name``, with what differs on a server."""
    spec = SPECS[name]
    return replace(spec, help=help_text or spec.help, page=page or spec.page, **changes)


def _specs(*specs: ParSpec) -> dict[str, ParSpec]:
    return {spec.name: spec for spec in specs}


_WEB: Final = "Web Server"
_LIMITS: Final = "Limits"
SERVER_SPECS: Final[Mapping[str, ParSpec]] = _specs(
    # Web Server page (TD)
    _shared("active", "While on, the server listens and serves its clients; turning it off closes them (1001) and "
            "stops listening.", page=_WEB),
    replace(SPECS["clear"], name="restart", help="Pulse: stop and start the server again (its clients are closed "
            "with 1012 service restart).", page=_WEB, effect=Effect.RECONNECT),
    ParSpec("address", DEFAULT_ADDRESS, _address,
            "The interface to listen on: loopback by default; 0.0.0.0 or :: (every interface) or another address "
            "must be named.", _WEB, effect=Effect.RECONNECT, metavar="HOST", remote=False),
    _shared("port", "The port to listen on (0: one the system picks; webServerDAT.url says which).", page=_WEB,
            default=DEFAULT_SERVER_PORT, check=integer(0, 65535, range_=True)),
    replace(SPECS["insecure"], name="secure", help="TLS (https:// and wss://) with certificate and privatekey.",
            page=_WEB),
    replace(SPECS["certfile"], name="certificate", help="PEM certificate chain of the server (may hold the key "
            "too); needed by secure.", page=_WEB),
    replace(SPECS["keyfile"], name="privatekey", help="PEM private key of the certificate (when the certificate "
            "file does not hold it).", page=_WEB),
    _shared("callbacks", page=_WEB),
    _shared("executeloc", page=_WEB),
    _shared("fromop", page=_WEB),
    _shared("reloadcallbacks", "Live editing: a .py callbacks file changed on disk is loaded again at least 0.5 s "
            "after the change, before the next event is handled (a broken edit keeps the previous callbacks).",
            page=_WEB),
    _shared("reload", page=_WEB),
    _shared("reloadtimeout", page=_WEB),
    ParSpec("static", "", _folder, "A folder whose files answer plain HTTP GET and HEAD requests when no "
            "onHTTPRequest callback does ('' = none).", _WEB, metavar="DIR", remote=False),
    # Received Messages page (as the WebSocket DAT's, with a client column)
    _shared("clamp"),
    _shared("maxlines"),
    _shared("clear"),
    _shared("bytes"),
    _shared("maxtablebytes"),
    _shared("binaryrows"),
    # Limits page (wsdat)
    ParSpec("maxclients", 1000, integer(1, unit="WebSocket clients at once"),
            "Most WebSocket clients at once; the next one is answered 503 Service Unavailable.", _LIMITS,
            metavar="N"),
    _shared("maxmessagesize", "Largest accepted message from a client in bytes (UTF-8 bytes for text, after "
            "decompression); a larger one closes that client with 1009.", page=_LIMITS, effect=Effect.READ),
    _shared("sendqueuebytes", "Most payload bytes waiting to be sent to one client (one message always fits an "
            "empty queue); a client whose queue is full does not read: it is closed with 1008, the others go on. "
            "The awaitable send_text/send_binary wait for room instead.", page=_LIMITS, default=1024 * 1024),
    _shared("timeout", "How long a client may take to send its HTTP request (or the TLS handshake), and an idle "
            "HTTP keep-alive connection may stay, in ms; slower clients are dropped.", page=_LIMITS,
            default=10_000, effect=Effect.READ),
    _shared("pinginterval", "Keepalive: ping each WebSocket client after this long; 0 turns keepalive off.",
            page=_LIMITS),
    _shared("pingtimeout", "Keepalive: a client that does not answer a ping within this long is closed (1011).",
            page=_LIMITS),
    _shared("compression", "permessage-deflate (RFC 7692): 'deflate' accepts a client's offer, 'off' refuses it "
            "(applies to clients that connect from then on).", page=_LIMITS, effect=Effect.READ),
)


class ServerParameters(Parameters):
    """The ``par`` object of a Web Server DAT (see :class:`~.params.Parameters`).

    >>> par = ServerParameters(port=8080)
    >>> par.port.eval(), par.endpoint.url
    (8080, 'ws://127.0.0.1:8080/')
    """

    __slots__ = ("_bound",)
    specs: ClassVar[Mapping[str, ParSpec]] = SERVER_SPECS

    def bind(self, port: int | None) -> None:
        """Where the running server listens (None: it does not): with ``port`` 0, :attr:`endpoint` then names the
        port the system picked."""
        object.__setattr__(self, "_bound", port)
        object.__setattr__(self, "_endpoint", self._check_together(self._values))

    def _check_together(self, values: Mapping[str, Any]) -> Endpoint:
        """Secure needs a certificate, a private key goes with a certificate, Execute from ``op`` needs ``fromop``;
        the endpoint is where clients reach the server (``wss`` while secure)."""
        check_execute_from(values)
        if values["privatekey"] and not values["certificate"]:
            raise ParameterError("privatekey", values["privatekey"], "a key only together with certificate")
        if values["secure"] and not values["certificate"]:
            raise ParameterError("secure", True, "on only with a certificate (and privatekey, unless the "
                                 "certificate file holds the key)")
        host = values["address"]
        port = values["port"] or getattr(self, "_bound", None) or 0
        return Endpoint("wss" if values["secure"] else "ws", _WILDCARDS.get(host, host), port)
