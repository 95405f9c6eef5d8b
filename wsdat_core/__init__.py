"""wsdat: TouchDesigner's WebSocket DAT as a headless Python library, command-line tool and plugin host.

The pure core (:mod:`~wsdat_core.params`, :mod:`~wsdat_core.table`, :mod:`~wsdat_core.info`,
:mod:`~wsdat_core.hookspecs`, :mod:`~wsdat_core.callbacks`) imports neither trio nor sockets; the runtime
(:class:`WebSocketDAT`, :func:`open_dat`) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .address import Endpoint, resolve_url
from .errors import (
    ConnectError,
    ConnectionClosedError,
    ConnectTimeout,
    HandshakeRejected,
    ParameterError,
    PluginError,
    ProtocolError,
    ServiceFileError,
    TDOnlyError,
    TLSError,
    WsdatError,
)
from .hookspecs import hookimpl
from .info import Clock, Info
from .params import Parameters
from .table import MessageTable

if TYPE_CHECKING:
    from .dat import WebSocketDAT, open_dat

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosedError",
    "Endpoint",
    "HandshakeRejected",
    "Info",
    "MessageTable",
    "ParameterError",
    "Parameters",
    "PluginError",
    "ProtocolError",
    "ServiceFileError",
    "TDOnlyError",
    "TLSError",
    "WebSocketDAT",
    "WsdatError",
    "hookimpl",
    "open_dat",
    "resolve_url",
]

_RUNTIME = {"WebSocketDAT", "open_dat"}


def __getattr__(name: str) -> Any:
    # The runtime needs trio; keep `import wsdat_core.table` and friends free of it.
    if name in _RUNTIME:
        from . import dat

        return getattr(dat, name)
    raise AttributeError(f"module 'wsdat_core' has no attribute {name!r}")
