"""The HTTP routes of ``wsdat run --http``: a Starlette application (ASGI), served by hypercorn's trio worker.

=====================================  ===============================================================================
``GET /``                              the live page (``/static/live.js`` and ``live.css``; updates by Server-Sent
                                       Events from ``GET /events``)
``GET /metrics``                       Prometheus text exposition
``GET /healthz``                       200 when every active DAT is connected, else 503 naming the others and why
``GET /api/dats``, ``/api/dats/NAME``  parameters, info channels, state and the last ``?rows=N`` rows (default 20)
``POST /api/dats/NAME/send``           ``{"text": "..."}`` or ``{"binary": "<base64>"}``
``POST /api/dats/NAME/par``            ``{"maxlines": 10, ...}``; ``{"clear": true}`` pulses; 400 with the
                                       ParameterError line
=====================================  ===============================================================================

Who may ask is :mod:`wsdat_core.http.access`'s business (the Host allow-list, the token, same-origin POSTs); POSTs
must also be JSON, so a web page in the operator's browser cannot drive the DATs. Parameters that load code, and the
TLS, proxy and header parameters, never change over HTTP (403 naming them). Answers show no secret: URL passwords and
credential header values read ``***`` (:func:`~wsdat_core.model.secrets.mask_parameters`). A request the API cannot
serve gets one line (4xx for what the client sent wrong); nothing a client sends puts a traceback in the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any, Final

import trio
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..model.address import resolve_url
from ..model.errors import ConnectionClosedError, ParameterError, PluginError
from ..model.params import SPECS
from ..model.sanitize import clean_line
from ..model.secrets import is_credential_header, mask_parameters, mask_text
from ..runtime.console import log
from .access import SECURITY_HEADERS, AccessGuard, refusal
from .address import HttpAccess, HttpAddress
from .hub import Hub, PageView, Panel
from .metrics import metrics_registry, render_metrics

__all__ = ["HOST_PARAMS", "PROTECTED_PARAMS", "build_app"]

#: Parameters that load code (plugins); changed only in the service file, never over HTTP.
HOST_PARAMS: Final = frozenset({"callbacks", "executeloc", "fromop"})
#: What the DAT trusts and what it sends along (TLS, proxy, headers): whoever may change them over HTTP could read
#: the DAT's credentials or its traffic, so they change only in the service file too.
PROTECTED_PARAMS: Final = frozenset({"cafile", "certfile", "keyfile", "insecure", "proxy", "headers",
                                     "secretheaders"})
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

_SECURITY: Final = SECURITY_HEADERS
#: ``?rows=``: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses), and not a thousand of them.
_ROWS: Final = re.compile(r"[0-9]{1,9}")
_PAGE_POLICY: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_STATIC: Final = {"live.js": "text/javascript; charset=utf-8", "live.css": "text/css; charset=utf-8"}


class RequestError(Exception):
    """A request the API refuses: its status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return refusal(status, message)


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
    if not _ROWS.fullmatch(text) or int(text) > MAX_ROWS:
        shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text)} characters)"
        raise RequestError(400, f"rows: {shown} is not allowed; expected an integer from 0 to {MAX_ROWS}")
    return int(text)


def describe(panel: Panel, rows: int) -> dict[str, Any]:
    """A DAT as ``/api/dats/NAME`` shows it."""
    dat = panel.dat
    first = max(1, dat.numRows - rows)
    return {
        "name": dat.name,
        **panel.status(),
        "info": _jsonable(dict(dat.info)),
        "par": _jsonable(mask_parameters(dat.par.as_dict())),
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
            failing[name] = {"state": dat.info.state, "error": mask_text(why)}
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
    except RecursionError:  # "[[[[..." deeper than Python's stack
        raise RequestError(400, "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise RequestError(400, f"not valid JSON: {clean_line(str(exc))}") from None
    if not isinstance(data, dict):
        raise RequestError(400, "expected a JSON object")
    return data


async def send(panel: Panel, data: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /api/dats/NAME/send``: ``{"text": ...}`` or ``{"binary": base64}``; waits until written."""
    keys = set(data)
    if keys == {"text"} and isinstance(data["text"], str):
        text: str = data["text"]
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:  # "\ud800" is valid JSON but no WebSocket text: refused, the DAT goes on
            raise RequestError(400, f"text: {text[exc.start]!r} at position {exc.start} is a lone surrogate, which "
                                    "UTF-8 cannot encode; nothing was sent") from None
        payload: str | bytes = text
    elif keys == {"binary"} and isinstance(data["binary"], str):
        try:
            payload = base64.b64decode(data["binary"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "binary: not valid base64") from None
        size = len(payload)
    else:
        raise RequestError(400, 'expected {"text": "..."} or {"binary": "<base64>"}')
    dat = panel.dat
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
    pulses = [name for name in changes if name in SPECS and SPECS[name].is_pulse]
    for name in pulses:
        if changes.pop(name) is not True:
            raise RequestError(400, f"{name}: a pulse; send {{\"{name}\": true}}")
    refused = sorted(HOST_PARAMS.intersection(changes))
    if refused:
        raise RequestError(403, f"{', '.join(refused)}: load code, so they change only in the service file")
    refused = sorted(PROTECTED_PARAMS.intersection(changes))
    if refused:
        raise RequestError(403, f"{', '.join(refused)}: TLS, proxy and header parameters change only in the service "
                                "file")
    dat = panel.dat
    try:
        _keep_credentials_home(dat.par, changes)
        dat.par.update(**changes)
    except (ParameterError, PluginError) as exc:
        raise RequestError(400, str(exc)) from None
    for name in pulses:
        getattr(dat.par, name).pulse()
    values = mask_parameters(dat.par.as_dict())
    return {"par": _jsonable({name: values[name] for name in changes}), "pulsed": pulses}


def _keep_credentials_home(par: Any, changes: Mapping[str, Any]) -> None:
    """403 when ``changes`` would send the DAT's credential headers to another server (host, scheme or port), as a
    redirect there would not; the URL's own credentials are replaced with it, so they never travel."""
    if not {"netaddress", "port"}.intersection(changes):
        return
    secret = par.value("secretheaders")
    carried = sorted({name for name, _value in par.value("headers") if is_credential_header(name, secret)})
    if not carried:
        return
    netaddress = SPECS["netaddress"].check("netaddress", changes.get("netaddress", par.value("netaddress")))
    port = SPECS["port"].check("port", changes.get("port", par.value("port")))
    target, current = resolve_url(netaddress, port), par.endpoint
    if (target.scheme, target.host.lower(), target.port) != (current.scheme, current.host.lower(), current.port):
        raise RequestError(403, f"netaddress: the DAT sends {', '.join(carried)}; it moves to another server only "
                                "in the service file")


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
            line = clean_line(mask_text(f"{type(exc).__name__}: {exc}"))
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
    return _OneLineErrors(AccessGuard(app, address, access or HttpAccess()))
