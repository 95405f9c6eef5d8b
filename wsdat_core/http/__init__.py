"""The HTTP side of ``wsdat run --http``: metrics, health, a JSON API and a live page of every DAT.

:class:`~wsdat_core.http.hub.Hub` gathers what the DATs do without ever slowing them down;
:func:`~wsdat_core.http.server.serve_http` serves it under trio (hypercorn's trio worker, a Starlette application).
The server's modules load only when the HTTP side is used. See docs/operations.md.
"""

from __future__ import annotations

from typing import Any

from .address import HttpAddress, parse_http_address

__all__ = ["HttpAddress", "HttpError", "Hub", "parse_http_address", "serve_http"]


def __getattr__(name: str) -> Any:
    if name == "Hub":
        from .hub import Hub

        return Hub
    if name in ("HttpError", "serve_http"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
