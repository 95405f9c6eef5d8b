"""The HTTP routes of ``wsdat run --http``: a Starlette application (ASGI), served by hypercorn's trio worker.

=====================================  ===============================================================================
``GET /``                              the live page (``/static/live.js`` and ``live.css``; updates by Server-Sent
                                       Events from ``GET /events``)
``GET /metrics``                       Prometheus text exposition
``GET /healthz``                       200 when every active DAT is connected, else 503 naming the others and why
``GET /api/dats``, ``/api/dats/NAME``  parameters, info channels, state and the last ``?rows=N`` rows (default 20)
``POST /api/dats/NAME/send``           ``{"text": "..."}`` or ``{"binary": "<base64>"}`` (a server: to every client)
``POST /api/dats/NAME/par``            ``{"maxlines": 10, ...}``; ``{"clear": true}`` pulses; 400 with the
                                       ParameterError line
=====================================  ===============================================================================

Requests whose ``Host`` names another machine are refused while the server listens on loopback (DNS rebinding), and
POSTs must be JSON from the same origin, so a web page in the operator's browser cannot drive the DATs.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any, Final

import trio
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..model.errors import ConnectionClosedError, ParameterError, PluginError
from ..model.params import HOST_PARAMS
from ..runtime.webserver import WebServerDAT
from .address import HttpAddress
from .hub import Hub, PageView, Panel
from .metrics import metrics_registry, render_metrics

__all__ = ["HOST_PARAMS", "build_app"]

#: Parameters that load code (plugins); changed only in the service file, never over HTTP.
#: Rows of ``/api/dats`` answers unless ``?rows=`` says otherwise, and the most it may ask for.
DEFAULT_ROWS: Final = 20
MAX_ROWS: Final = 10_000
#: Largest accepted request body (a 16 MiB message in base64 fits).
MAX_BODY: Final = 24 * 1024 * 1024
#: How long ``POST .../send`` waits for room in the send queue and the write.
SEND_TIMEOUT: Final = 5.0
#: Pages are written at most this often, and at least this often while anything (info channels) changes.
PAGE_MIN_GAP: Final = 0.1
PAGE_REFRESH: Final = 0.5
PAGE_KEEPALIVE: Final = 15.0

_SECURITY: Final = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}
_PAGE_POLICY: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_STATIC: Final = {"live.js": "text/javascript; charset=utf-8", "live.css": "text/css; charset=utf-8"}


class RequestError(Exception):
    """A request the API refuses: its status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=_SECURITY)


def _json(data: object, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, headers=_SECURITY)


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


# --------------------------------------------------------------------------------------------------------- the DATs
def _panel(hub: Hub, request: Request) -> Panel:
    name = request.path_params["name"]
    panel = hub.find(name)
    if panel is None:
        raise RequestError(404, f"no DAT named {name!r}; DATs are: {', '.join(hub.names()) or 'none'}")
    return panel


def _rows_param(request: Request) -> int:
    text = request.query_params.get("rows", str(DEFAULT_ROWS))
    if not text.isdigit() or int(text) > MAX_ROWS:
        raise RequestError(400, f"rows: {text!r} is not allowed; expected an integer from 0 to {MAX_ROWS}")
    return int(text)


def describe(panel: Panel, rows: int) -> dict[str, Any]:
    """A DAT as ``/api/dats/NAME`` shows it."""
    dat = panel.dat
    first = max(1, dat.numRows - rows)
    return {
        "name": dat.name,
        **panel.status(),
        "info": _jsonable(dict(dat.info)),
        "par": _jsonable(dat.par.as_dict()),
        "rows": [dat.row(index) for index in range(first, dat.numRows)] if rows else [],
        "first_row": first,
    }


def health(hub: Hub) -> tuple[int, dict[str, Any]]:
    """``/healthz``: 200 when every active DAT is connected, else 503 with each failing DAT's state and last error."""
    states: dict[str, str] = {}
    failing: dict[str, dict[str, str]] = {}
    for name, panel in hub.panels.items():
        dat = panel.dat
        if not dat.par.active:
            states[name] = "inactive"
            continue
        states[name] = dat.info.state
        if not dat.connected:
            why = panel.failure or dat.last_error or f"not connected yet ({dat.info.state})"
            failing[name] = {"state": dat.info.state, "error": why}
    if failing:
        return 503, {"status": "failing", "service": hub.name, "failing": failing, "dats": states}
    return 200, {"status": "ok", "service": hub.name, "dats": states}


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "send a JSON object with Content-Type: application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise RequestError(413, f"request body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(400, "expected a JSON object")
    return data


async def send(panel: Panel, data: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /api/dats/NAME/send``: ``{"text": ...}`` or ``{"binary": base64}``; waits until written."""
    keys = set(data)
    if keys == {"text"} and isinstance(data["text"], str):
        payload: str | bytes = data["text"]
        size = len(data["text"].encode("utf-8", "surrogatepass"))
    elif keys == {"binary"} and isinstance(data["binary"], str):
        try:
            payload = base64.b64decode(data["binary"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "binary: not valid base64") from None
        size = len(payload)
    else:
        raise RequestError(400, 'expected {"text": "..."} or {"binary": "<base64>"}')
    dat = panel.dat
    if isinstance(dat, WebServerDAT):  # a Web Server DAT sends to every client it has
        clients = dat.broadcastText(payload) if isinstance(payload, str) else dat.broadcastBinary(payload)
        return {"sent": size, "clients": clients}
    try:
        with trio.fail_after(SEND_TIMEOUT):
            if isinstance(payload, str):
                await dat.send_text(payload)
            else:
                await dat.send_binary(payload)
    except ConnectionClosedError as exc:
        raise RequestError(409, str(exc)) from None
    except trio.TooSlowError:
        raise RequestError(503, f"{dat.name}: not sent within {SEND_TIMEOUT:g} s (send queue full)") from None
    return {"sent": size}


def change_parameters(panel: Panel, data: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /api/dats/NAME/par``: every change checked together, applied all or none."""
    changes = dict(data)
    specs = panel.dat.par.specs
    pulses = [name for name in changes if name in specs and specs[name].is_pulse]
    for name in pulses:
        if changes.pop(name) is not True:
            raise RequestError(400, f"{name}: a pulse; send {{\"{name}\": true}}")
    refused = sorted(HOST_PARAMS.intersection(changes))
    if refused:
        raise RequestError(403, f"{', '.join(refused)}: load code, so they change only in the service file")
    dat = panel.dat
    try:
        dat.par.update(**changes)
    except (ParameterError, PluginError) as exc:
        raise RequestError(400, str(exc)) from None
    for name in pulses:
        getattr(dat.par, name).pulse()
    values = dat.par.as_dict()
    return {"par": _jsonable({name: values[name] for name in changes}), "pulsed": pulses}


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
class _HostCheck:
    """Refuses a ``Host`` other than this machine while listening on loopback (DNS rebinding), and POSTs from another
    origin (a page the operator has open elsewhere)."""

    def __init__(self, app: ASGIApp, address: HttpAddress) -> None:
        self.app = app
        self.loopback = address.loopback
        self.allowed = {"localhost", "127.0.0.1", "::1", address.host.lower()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            host = _host_of(headers.get("host", ""))
            if self.loopback and host not in self.allowed:
                await _error(421, f"this server answers only to localhost, not {host!r}")(scope, receive, send)
                return
            origin = headers.get("origin")
            if scope["method"] not in ("GET", "HEAD") and origin is not None and \
                    origin.split("://", 1)[-1].lower() != headers.get("host", "").lower():
                await _error(403, "cross-origin requests are refused")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host_of(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def build_app(hub: Hub, address: HttpAddress) -> ASGIApp:
    """The ASGI application serving ``hub``'s DATs."""
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
        return Response(page, media_type="text/html; charset=utf-8",
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
        rows = _rows_param(request)
        return _json({"service": hub.name, "dats": [describe(p, rows) for p in hub.panels.values()]})

    @api
    async def one_dat(request: Request) -> Response:
        return _json(describe(_panel(hub, request), _rows_param(request)))

    @api
    async def send_route(request: Request) -> Response:
        panel = _panel(hub, request)
        return _json(await send(panel, await _json_body(request)))

    @api
    async def par_route(request: Request) -> Response:
        panel = _panel(hub, request)
        return _json(change_parameters(panel, await _json_body(request)))

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
    ])
    return _HostCheck(app, address)
