"""The ``request`` and ``response`` dicts of ``onHTTPRequest``, as TouchDesigner's Web Server DAT hands them over,
and its Basic-auth helper.

``request``: ``method``, ``uri`` (the path as sent, without the query string), ``pars`` (the query parameters, the
last value of a repeated name), ``clientAddress``, ``serverAddress``, ``data`` (the body: ``str`` when it is UTF-8,
else ``bytes``), plus each request header under the name the client sent (``'Authorization'``); a header may be
looked up in any case (``request['authorization']``, ``request.get('content-type')``).

``response``: ``statusCode``, ``statusReason``, ``data`` (``str`` or ``bytes``) and any other key as a response
header (``response['Content-Type'] = 'application/json'``). :func:`response_parts` checks what a callback left there
and raises :class:`ResponseError` with one line saying what is wrong, rather than sending something broken.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl

__all__ = ["REQUEST_KEYS", "HTTPRequest", "ResponseError", "ResponseParts", "authenticate_basic", "make_request",
           "new_response", "response_parts", "status_reason"]

#: The keys TouchDesigner puts in every request (headers come beside them).
REQUEST_KEYS: Final = ("method", "uri", "pars", "clientAddress", "serverAddress", "data")
_RESPONSE_KEYS: Final = ("statusCode", "statusReason", "data")
#: Headers the server writes itself: a callback's value is left out (the body decides its length).
_FRAMING: Final = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"})
_TOKEN: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class ResponseError(ValueError):
    """What an ``onHTTPRequest`` callback left in ``response`` cannot be sent (the request is answered 500)."""


class HTTPRequest(dict[str, Any]):
    """TouchDesigner's request dict; header keys are found in any case."""

    def __missing__(self, key: object) -> Any:
        if isinstance(key, str):
            wanted = key.lower()
            for name in self:
                if name.lower() == wanted and name not in REQUEST_KEYS:
                    return dict.__getitem__(self, name)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        try:
            self.__missing__(key)
        except KeyError:
            return False
        return True


def make_request(method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, client_address: str,
                 server_address: str) -> HTTPRequest:
    """The ``request`` dict of one HTTP request (``target`` is the request line's path and query)."""
    path, _, query = target.partition("?")
    request = HTTPRequest()
    for name, value in headers:  # a repeated header is one value, as HTTP says it may be joined
        previous = request.get(name)
        separator = "; " if name.lower() == "cookie" else ", "
        request[name] = value if previous is None else f"{previous}{separator}{value}"
    try:
        data: str | bytes = body.decode("utf-8")
    except UnicodeDecodeError:
        data = body
    request.update(method=method, uri=path or "/", pars=dict(parse_qsl(query, keep_blank_values=True)),
                   clientAddress=client_address, serverAddress=server_address, data=data)
    return request


def new_response() -> dict[str, Any]:
    """The ``response`` a callback starts from: 200 OK, no data."""
    return {"statusCode": 200, "statusReason": "OK", "data": ""}


def status_reason(code: int) -> str:
    """The standard reason phrase of ``code`` (``404`` -> ``'Not Found'``), or ``''``."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class ResponseParts:
    """A response ready for the wire: status, reason, headers (names as the callback wrote them) and body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def response_parts(response: object) -> ResponseParts:
    """Check what a callback made of ``response``; :class:`ResponseError` names the first thing that cannot be sent."""
    if not isinstance(response, Mapping):
        raise ResponseError(f"the response must be a dict, not {type(response).__name__}")
    status = response.get("statusCode", 200)
    if isinstance(status, str) and status.strip().isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ResponseError(f"response['statusCode'] is {status!r}; expected an HTTP status code from 200 to 599")
    reason = response.get("statusReason")
    reason = status_reason(status) if reason is None or reason == "" else reason
    if not isinstance(reason, str) or not _is_field_value(reason):
        raise ResponseError(f"response['statusReason'] is {reason!r}; expected one line of text")
    data = response.get("data")
    if data is None:
        body = b""
    elif isinstance(data, str):
        body = data.encode("utf-8", "surrogateescape")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        body = bytes(data)
    else:
        raise ResponseError(f"response['data'] is a {type(data).__name__}; expected str or bytes (json.dumps() "
                            "a dict or list)")
    headers: list[tuple[str, str]] = []
    for name, value in response.items():
        if name in _RESPONSE_KEYS:
            continue
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN:
            raise ResponseError(f"response[{name!r}]: not a valid HTTP header name")
        if name.lower() in _FRAMING:
            continue
        text = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else None
        if text is None or not _is_field_value(text):
            raise ResponseError(f"response[{name!r}] is {value!r}; expected one line of text (no line breaks or "
                                "control characters)")
        headers.append((name, text))
    if not any(name.lower() == "content-type" for name, _ in headers) and body:
        headers.append(("Content-Type", "text/html; charset=utf-8" if isinstance(data, str)
                        else "application/octet-stream"))
    return ResponseParts(status, reason, tuple(headers), body)


def _is_field_value(text: str) -> bool:
    return all(ch == "\t" or 0x20 <= ord(ch) <= 0x7E or 0x80 <= ord(ch) <= 0xFF for ch in text)


def authenticate_basic(request: Mapping[str, Any], user: str, password: str) -> bool:
    """True when ``request`` carries HTTP Basic credentials for ``user`` and ``password`` (its ``Authorization``
    header, in any case), compared in constant time."""
    header = request.get("Authorization")
    if not isinstance(header, str):
        return False
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = f"{user}:{password}".encode()
    return hmac.compare_digest(given, expected)
