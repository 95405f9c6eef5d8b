"""wsdat: TouchDesigner's WebSocket DAT as a headless Python library, command-line tool and plugin host.

The layers, each importing only those below it::

    faces, http   the wsdat command, views, service files, replay, the HTTP side, the pytest plugin
    runtime       WebSocketDAT and its session (supervisor, sender, cook, reporter, plugin lifecycle)
    net           TCP, proxies, TLS, redirects, the trio driver of one connection
    protocol      the WebSocket protocol, sans-I/O
    host          hookspecs, plugin loading, TouchDesigner's globals, dispatch
    model         parameters, table, info, events, closing, errors, secrets (pure)

The model and the host import neither trio nor sockets; the runtime (:class:`WebSocketDAT`, :func:`open_dat`,
:class:`WebServerDAT`, :func:`open_server`) is imported on first use. The import paths of earlier releases
(``wsdat_core.events``, ``wsdat_core.params``, ``wsdat_core.testing``, ...) keep working: they name the same modules
in their layer.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .host.hookspecs import hookimpl
from .model.address import Endpoint, resolve_url
from .model.errors import (
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
from .model.info import Clock, Info
from .model.params import Parameters
from .model.table import MessageTable

if TYPE_CHECKING:
    from .runtime.dat import WebSocketDAT, open_dat
    from .runtime.webserver import WebServerDAT, open_server


__all__ = [
    "__version__",
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
    "WebServerDAT",
    "WebSocketDAT",
    "WsdatError",
    "hookimpl",
    "open_dat",
    "open_server",
    "resolve_url",
]

_RUNTIME = {"WebSocketDAT", "open_dat"}
_SERVER_RUNTIME = {"WebServerDAT", "open_server"}


def __getattr__(name: str) -> Any:
    # The runtime needs trio; keep `import wsdat_core.table` and friends free of it.
    if name in _RUNTIME:
        from .runtime import dat

        return getattr(dat, name)
    if name in _SERVER_RUNTIME:
        from .runtime import webserver

        return getattr(webserver, name)
    if name in LEGACY_PATHS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'wsdat_core' has no attribute {name!r}")


#: Where the modules of earlier releases live now (``import wsdat_core.events`` keeps working).
LEGACY_PATHS: dict[str, str] = {
    **{name: f"model.{name}" for name in ("address", "backoff", "closing", "errors", "events", "info", "params",
                                          "proxy", "sanitize", "table")},
    **{name: f"host.{name}" for name in ("hookspecs", "callbacks", "tdglobals")},
    **{name: f"runtime.{name}" for name in ("dat", "session", "cook", "hookrunner", "eventbus", "sendqueue",
                                            "console")},
    **{name: f"faces.{name}" for name in ("cli", "config", "demo", "output", "replay", "scaffold", "signals",
                                          "testing", "view")},
    "transport": "net.transport",
}


class _LegacyPath(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``wsdat_core.NAME`` of an earlier release as the module it became: the same module object, so
    ``wsdat_core.events.TextReceived is wsdat_core.model.events.TextReceived``."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        prefix, _, name = fullname.partition(".")
        if prefix != __name__ or name not in LEGACY_PATHS:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return importlib.import_module(f"{__name__}.{LEGACY_PATHS[spec.name.partition('.')[2]]}")

    def exec_module(self, module: types.ModuleType) -> None:
        pass  # the module it names is loaded already


if not any(isinstance(finder, _LegacyPath) for finder in sys.meta_path):
    sys.meta_path.append(_LegacyPath())
