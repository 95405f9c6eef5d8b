"""Serving the HTTP side under trio: hypercorn's trio worker runs the Starlette application in the service's own
nursery, so every request is a trio task beside the DATs (no thread, no second event loop)."""

from __future__ import annotations

import logging
from typing import Final, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from hypercorn.typing import Framework

from ..model.errors import WsdatError
from ..runtime.console import log
from .address import HttpAddress
from .app import build_app
from .hub import Hub

__all__ = ["HttpError", "serve_http"]

#: Hypercorn's own lines ("Running on ...") are left out; its warnings and errors go to the wsdat logger.
_HTTP_LOG: Final = log.getChild("http")
_HTTP_LOG.setLevel(logging.WARNING)
#: Open responses (a live page's stream) get this long to end once the service stops.
GRACEFUL_TIMEOUT: Final = 1.0


class HttpError(WsdatError, ValueError):
    """The HTTP side cannot listen where asked (address in use, no such interface)."""


async def serve_http(hub: Hub, address: HttpAddress, *,
                     task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``hub`` on ``address`` until cancelled or ``hub.close()``; ``await nursery.start(serve_http, ...)``
    returns the base URL once listening (with the port the OS chose for port 0).

    Raises:
      HttpError: when the address cannot be listened on.
    """
    config = Config()
    config.bind = [address.bind]
    config.accesslog = None
    config.errorlog = _HTTP_LOG
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.include_server_header = False

    async def closed() -> None:
        while not hub.closing:
            await hub.wait(1.0)

    async def run(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(cast(Framework, build_app(hub, address)), config, shutdown_trigger=closed, task_status=task_status)

    async with trio.open_nursery() as nursery:
        try:
            binds: list[str] = await nursery.start(run)
        except* OSError as group:
            error: BaseException = group
            while isinstance(error, BaseExceptionGroup):
                error = error.exceptions[0]
            why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise HttpError(f"http: cannot listen on {address.bind}: {why}") from None
        task_status.started(binds[0].rstrip("/") + "/")
