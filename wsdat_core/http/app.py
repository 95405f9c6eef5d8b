"""The HTTP routes of ``wsdat run --http``: a Starlette application (ASGI), served by hypercorn's trio worker.

=====================================  ===============================================================================
``GET /``                              the live page, holding every DAT's state and last rows (``/static/live.js`` and
                                       ``live.css``; updates by Server-Sent Events from ``GET /events``)
``GET /metrics``                       Prometheus text exposition
``GET /healthz``                       200 when every active DAT is connected, else 503 naming the others and why
``GET /api/dats``, ``/api/dats/NAME``  parameters, info channels, state and the last ``?rows=N`` rows (default 20)
``POST /api/dats/NAME/send``           ``{"text": "..."}`` or ``{"binary": "<base64>"}``
``POST /api/dats/NAME/par``            ``{"maxlines": 10, ...}``; ``{"clear": true}`` pulses; 400 with the
                                       ParameterError line
=====================================  ===============================================================================

Who may ask is :mod:`wsdat_core.http.access`'s business (the Host allow-list, the token, same-origin POSTs); what the
API routes do, :mod:`wsdat_core.http.api`'s (POSTs must be JSON, so a web page in the operator's browser cannot drive
the DATs; parameters that load code, and the TLS, proxy and header parameters, never change over HTTP; answers show no
secret). A request the API cannot serve gets one line (4xx for what the client sent wrong); nothing a client sends puts
a traceback in the log.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Final

import trio
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..model.sanitize import clean_line
from ..model.secrets import mask_text
from ..runtime.console import log
from .access import SECURITY_HEADERS, AccessGuard, refusal
from .address import HttpAccess, HttpAddress
from .api import (
    HOST_PARAMS,
    PROTECTED_PARAMS,
    RequestError,
    change_parameters,
    describe,
    find_panel,
    health,
    json_body,
    rows_param,
    send,
)
from .hub import Hub, PageView, first_snapshot
from .metrics import metrics_registry, render_metrics

__all__ = ["HOST_PARAMS", "PROTECTED_PARAMS", "build_app"]

#: Pages are written at most this often, and at least this often while anything (info channels) changes.
PAGE_MIN_GAP: Final = 0.1
PAGE_REFRESH: Final = 0.5
PAGE_KEEPALIVE: Final = 15.0

_SECURITY: Final = SECURITY_HEADERS
_PAGE_POLICY: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: Where index.html takes the first snapshot.
SNAPSHOT_SLOT: Final = b"{{snapshot}}"
_STATIC: Final = {"live.js": "text/javascript; charset=utf-8", "live.css": "text/css; charset=utf-8"}


def _error(status: int, message: str) -> JSONResponse:
    return refusal(status, message)


def _json(data: object, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, headers=_SECURITY)


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


# ------------------------------------------------------------------------------------------------------ the page
class PageEvents:
    """``GET /events``: Server-Sent Events for one live page, a snapshot and then updates, until the page goes away
    or the service stops. Plain ASGI, so that the page is counted exactly and its end noticed at once."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        if hub.pages >= hub.max_pages:
            await _error(503, f"too many live pages open ({hub.max_pages})")(scope, receive, send)
            return
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"x-accel-buffering", b"no"),
                   *((k.lower().encode(), v.encode()) for k, v in _SECURITY.items())]
        hub.pages += 1
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_disconnect, receive, nursery.cancel_scope)
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await self._stream(send)
                nursery.cancel_scope.cancel()
        finally:
            hub.pages -= 1

    async def _stream(self, send: Send) -> None:
        hub = self.hub
        view = PageView(hub)
        last = trio.current_time()
        while not hub.closing:
            message = view.next_message()
            chunk = None
            if message is not None:
                kind, data = message
                chunk = f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
            elif trio.current_time() - last > PAGE_KEEPALIVE:
                chunk = ": keepalive\n\n"
            if chunk is not None:
                # Blocks while this browser does not read: only this page waits, and meanwhile it falls behind.
                await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
                last = trio.current_time()
            await hub.wait(PAGE_REFRESH)
            await trio.sleep(PAGE_MIN_GAP)  # a burst of rows goes out as one message
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


# --------------------------------------------------------------------------------------------------------- the app
def _failure_line(exc: BaseException) -> str:
    return clean_line(mask_text(f"{type(exc).__name__}: {exc}"))


async def _internal_error(_request: Request, exc: Exception) -> Response:
    """Starlette's answer to whatever escaped a route (it then re-raises it, for :class:`_OneLineErrors` to log)."""
    return _error(500, f"internal error: {_failure_line(exc)}")


class _OneLineErrors:
    """Whatever escapes a route (a bug, or input no check foresaw) becomes one line: a 500 answer, when none began,
    and one log line; the traceback only at -vv (debug), never in the default log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan is the server's business
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            line = _failure_line(exc)
            log.error("http: %s %s failed: %s", scope.get("method", ""), scope.get("path", ""), line)
            log.debug("http: the traceback of that failure", exc_info=exc)
            if not started:
                await _error(500, f"internal error: {line}")(scope, receive, send)


def build_app(hub: Hub, address: HttpAddress, access: HttpAccess | None = None) -> ASGIApp:
    """The ASGI application serving ``hub``'s DATs on ``address`` to whom ``access`` lets in."""
    registry = metrics_registry(hub)
    page = _asset("index.html")

    def api(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestError as exc:
                return _error(exc.status, str(exc))

        return run

    async def index(_request: Request) -> Response:
        # the first response holds every DAT's state and last rows (a JSON data block, which the policy allows:
        # it is never run), so the page is drawn before its event stream sends anything
        body = page.replace(SNAPSHOT_SLOT, first_snapshot(hub).encode())
        return Response(body, media_type="text/html; charset=utf-8",
                        headers={**_SECURITY, "Content-Security-Policy": _PAGE_POLICY})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return _error(404, f"no such file: {name}")
        return Response(_asset(name), media_type=_STATIC[name], headers=_SECURITY)

    async def metrics(_request: Request) -> Response:
        return Response(render_metrics(registry), media_type=CONTENT_TYPE_LATEST, headers=_SECURITY)

    async def healthz(_request: Request) -> Response:
        status, body = health(hub)
        return _json(body, status)

    @api
    async def list_dats(request: Request) -> Response:
        rows = rows_param(request)
        return _json({"service": hub.name, "dats": [describe(p, rows) for p in hub.panels.values()]})

    @api
    async def one_dat(request: Request) -> Response:
        return _json(describe(find_panel(hub, request), rows_param(request)))

    @api
    async def send_route(request: Request) -> Response:
        panel = find_panel(hub, request)
        return _json(await send(panel, await json_body(request)))

    @api
    async def par_route(request: Request) -> Response:
        panel = find_panel(hub, request)
        return _json(change_parameters(panel, await json_body(request)))

    app = Starlette(routes=[
        Route("/", index),
        Route("/static/{name}", static),
        Route("/events", PageEvents(hub)),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/api/dats", list_dats),
        Route("/api/dats/{name}", one_dat),
        Route("/api/dats/{name}/send", send_route, methods=["POST"]),
        Route("/api/dats/{name}/par", par_route, methods=["POST"]),
    ], exception_handlers={Exception: _internal_error})
    return _OneLineErrors(AccessGuard(app, address, access or HttpAccess()))
