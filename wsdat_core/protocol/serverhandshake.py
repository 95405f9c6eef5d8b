"""The opening handshake in the server role (RFC 6455 4.2, RFC 7692 5-7), sans-I/O: the checks of an upgrade
request, the agreement on permessage-deflate and the headers of the ``101 Switching Protocols`` answer (h11 writes
it). Pure: no trio, no sockets.

    key, offers = check_upgrade("GET", headers)    # HandshakeRefused: the status and the line to answer
    deflate = agree_deflate(offers)                # None: no compression
    answer = accept_headers(key, deflate)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from .deflate import EXTENSION, DeflateParams
from .handshake import accept_key

__all__ = ["HandshakeRefused", "accept_headers", "agree_deflate", "check_upgrade"]


class HandshakeRefused(Exception):
    """An upgrade request a server must refuse: answer ``status`` with this line (and ``headers``)."""

    def __init__(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(text)
        self.status = status
        self.headers = headers


def _tokens(values: Iterable[str]) -> set[str]:
    return {token.strip().lower() for value in values for token in value.split(",") if token.strip()}


def check_upgrade(method: str, headers: Iterable[tuple[str, str]]) -> tuple[str, list[str]]:
    """The ``Sec-WebSocket-Key`` of a WebSocket upgrade request (RFC 6455 4.2.1) and its extension offers;
    :class:`HandshakeRefused` saying what is wrong. ``headers``: names in lower case."""
    found: dict[str, list[str]] = {}
    for name, value in headers:
        found.setdefault(name, []).append(value)
    if method != "GET":
        raise HandshakeRefused(405, f"405 Method Not Allowed: a WebSocket upgrade is a GET, not {method}",
                               (("Allow", "GET"),))
    if "upgrade" not in _tokens(found.get("connection", [])):
        raise HandshakeRefused(400, "400 Bad Request: not a valid WebSocket handshake: 'Connection' does not name "
                                    "'upgrade'")
    if found.get("sec-websocket-version") != ["13"]:
        raise HandshakeRefused(426, "426 Upgrade Required: not a valid WebSocket handshake: this server speaks "
                                    "Sec-WebSocket-Version 13", (("Sec-WebSocket-Version", "13"),))
    keys = found.get("sec-websocket-key", [])
    try:
        valid = len(keys) == 1 and len(base64.b64decode(keys[0].strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise HandshakeRefused(400, "400 Bad Request: not a valid WebSocket handshake: 'Sec-WebSocket-Key' is "
                                    "missing or not 16 bytes in base64")
    return keys[0].strip(), found.get("sec-websocket-extensions", [])


def _window_bits(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and 8 <= int(value) <= 15 else None


def agree_deflate(offers: list[str]) -> DeflateParams | None:
    """The first permessage-deflate offer (RFC 7692 5-7) the server can honour, as the parameters both sides use and
    the answer to write (``agreed``); None when there is none. An offer with an unknown, repeated or invalid
    parameter is declined (the next one is tried)."""
    for element in (part.strip() for offer in offers for part in offer.split(",")):
        name, *parameters = [piece.strip() for piece in element.split(";")]
        if name.lower() != EXTENSION:
            continue
        given: dict[str, str | None] = {}
        for parameter in parameters:
            key, equals, value = parameter.partition("=")
            key = key.strip().lower()
            if key in given:
                break
            given[key] = value.strip().strip('"') if equals else None
        else:
            params = _deflate_params(given)
            if params is not None:
                return params
    return None


def _deflate_params(given: dict[str, str | None]) -> DeflateParams | None:
    answer = [EXTENSION]
    for flag in ("server_no_context_takeover", "client_no_context_takeover"):
        if flag in given:
            if given[flag] is not None:
                return None
            answer.append(flag)
    server_bits = client_bits = 15
    if "server_max_window_bits" in given:
        bits = _window_bits(given["server_max_window_bits"])
        if bits is None:
            return None
        server_bits = bits
        answer.append(f"server_max_window_bits={bits}")
    if "client_max_window_bits" in given and given["client_max_window_bits"] is not None:
        bits = _window_bits(given["client_max_window_bits"])
        if bits is None:
            return None
        client_bits = bits
        answer.append(f"client_max_window_bits={bits}")
    if set(given) - {"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits",
                     "client_max_window_bits"}:
        return None
    return DeflateParams("server_no_context_takeover" in given, "client_no_context_takeover" in given, server_bits,
                         client_bits, "; ".join(answer))


def accept_headers(key: str, deflate: DeflateParams | None) -> list[tuple[str, str]]:
    """The headers of the ``101 Switching Protocols`` answer."""
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(key.encode()))]
    if deflate is not None:
        headers.append(("Sec-WebSocket-Extensions", deflate.agreed))
    return headers
