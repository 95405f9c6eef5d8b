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
from .address import HttpAccess, HttpAddress, check_access
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


async def serve_http(hub: Hub, address: HttpAddress, access: HttpAccess | None = None, *,
                     task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``hub`` on ``address`` to whom ``access`` lets in, until cancelled or ``hub.close()``;
    ``await nursery.start(serve_http, ...)`` returns the base URL once listening (with the port the OS chose for
    port 0). An interface other than loopback is served only with a token (or ``access.open``), with a warning line.

    Raises:
      HttpError: when the address cannot be listened on, or needs a token it was not given.
    """
    access = access or HttpAccess()
    try:
        check_access(address, access)
    except ValueError as exc:
        raise HttpError(str(exc)) from None
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
        await serve(cast(Framework, build_app(hub, address, access)), config, shutdown_trigger=closed,
                    task_status=task_status)

    async with trio.open_nursery() as nursery:
        try:
            binds: list[str] = await nursery.start(run)
        except* OSError as group:
            error: BaseException = group
            while isinstance(error, BaseExceptionGroup):
                error = error.exceptions[0]
            why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise HttpError(f"http: cannot listen on {address.bind}: {why}") from None
        if not address.loopback:
            log.warning("http: %s is reachable from other machines; %s", address.bind,
                        "every endpoint but /healthz and /metrics wants the token" if access.token is not None else
                        "it is served WITHOUT a token (--http-open): whoever reaches it can drive the DATs")
        task_status.started(binds[0].rstrip("/") + "/")
