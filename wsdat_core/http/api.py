"""What the JSON API of ``wsdat run --http`` does, apart from HTTP: describe a DAT (secrets masked), the health
verdict, sending through a DAT, changing its parameters (never those that load code, nor the TLS, proxy and header
parameters, nor a netaddress that would carry the DAT's credential headers elsewhere). Each refusal is a
:class:`RequestError`: a status and one line."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import trio
from starlette.requests import Request

from ..model.address import resolve_url
from ..model.errors import ConnectionClosedError, ParameterError, PluginError
from ..model.params import HOST_PARAMS, PROTECTED_PARAMS, SPECS, Effect
from ..model.sanitize import clean_line
from ..model.secrets import is_credential_header, mask_parameters, mask_text
from ..runtime.webserver import WebServerDAT
from .hub import Hub, Panel

__all__ = ["DEFAULT_ROWS", "HOST_PARAMS", "MAX_BODY", "MAX_ROWS", "PROTECTED_PARAMS", "SEND_TIMEOUT", "RequestError",
           "change_parameters", "describe", "find_panel", "health", "json_body", "jsonable", "rows_param", "send"]

#: Rows of ``/api/dats`` answers unless ``?rows=`` says otherwise, and the most it may ask for.
DEFAULT_ROWS: Final = 20
MAX_ROWS: Final = 10_000
#: Largest accepted request body (a 16 MiB message in base64 fits).
MAX_BODY: Final = 24 * 1024 * 1024
#: How long ``POST .../send`` waits for room in the send queue and the write.
SEND_TIMEOUT: Final = 5.0
#: ``?rows=``: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses), and not a thousand of them.
_ROWS: Final = re.compile(r"[0-9]{1,9}")


class RequestError(Exception):
    """A request the API refuses: its status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def jsonable(value: object) -> object:
    """``value`` made of what JSON holds (a float that is not finite as text, anything else as its repr)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return repr(value)


def find_panel(hub: Hub, request: Request) -> Panel:
    name = request.path_params["name"]
    panel = hub.find(name)
    if panel is None:
        raise RequestError(404, f"no DAT named {name!r}; DATs are: {', '.join(hub.names()) or 'none'}")
    return panel


def rows_param(request: Request) -> int:
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
        "info": jsonable(dict(dat.info)),
        "par": jsonable(mask_parameters(dat.par.as_dict())),
        "rows": [dat.row(index) for index in range(first, dat.numRows)] if rows else [],
        "first_row": first,
    }


def health(hub: Hub) -> tuple[int, dict[str, Any]]:
    """``/healthz``: 200 when every active DAT is connected, else 503 with each failing DAT's state and last error."""
    states: dict[str, str] = {}
    failing: dict[str, dict[str, object]] = {}
    for name, panel in hub.panels.items():
        dat = panel.dat
        if not dat.par.active:
            states[name] = "inactive"
            continue
        states[name] = dat.info.state
        if not dat.connected:
            why = panel.failure or dat.last_error or f"not connected yet ({dat.info.state})"
            failing[name] = {"state": dat.info.state, "error": mask_text(why)}
            if dat.info.state == "reconnecting":  # when it tries again
                failing[name] |= {"retry_attempt": dat.info.retry_attempt, "retry_at": dat.info.retry_at}
    if failing:
        return 503, {"status": "failing", "service": hub.name, "failing": failing, "dats": states}
    return 200, {"status": "ok", "service": hub.name, "dats": states}


async def json_body(request: Request) -> dict[str, Any]:
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
    specs = panel.dat.par.specs  # a WebSocket DAT's, or a Web Server DAT's
    pulses = [name for name in changes if name in specs and specs[name].is_pulse]
    for name in pulses:
        if changes.pop(name) is not True:
            raise RequestError(400, f"{name}: a pulse; send {{\"{name}\": true}}")
    refused = sorted(name for name in changes if name in specs and specs[name].effect is Effect.HOST)
    if refused:
        raise RequestError(403, f"{', '.join(refused)}: load code, so they change only in the service file")
    refused = sorted(name for name in changes if name in specs and not specs[name].remote)
    if refused:
        kinds = "TLS, proxy and header" if specs is SPECS else "TLS, address and static folder"
        raise RequestError(403, f"{', '.join(refused)}: {kinds} parameters change only in the service file")
    dat = panel.dat
    try:
        _keep_credentials_home(dat.par, changes)
        dat.par.update(**changes)
    except (ParameterError, PluginError) as exc:
        raise RequestError(400, str(exc)) from None
    for name in pulses:
        getattr(dat.par, name).pulse()
    values = mask_parameters(dat.par.as_dict())
    return {"par": jsonable({name: values[name] for name in changes}), "pulsed": pulses}


def _keep_credentials_home(par: Any, changes: Mapping[str, Any]) -> None:
    """403 when ``changes`` would send the DAT's credential headers to another server (host, scheme or port), as a
    redirect there would not; the URL's own credentials are replaced with it, so they never travel."""
    if not {"netaddress", "port"}.intersection(changes) or "netaddress" not in par.specs:  # (a server sends none)
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
