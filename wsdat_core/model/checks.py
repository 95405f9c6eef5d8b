"""How a parameter's value is checked: each checker takes ``(name, value)``, returns the value coerced (``"5"`` is
5 for an integer, ``"on"`` is True for a switch) or raises :class:`~.errors.ParameterError` naming the parameter, the
value and what is allowed.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from .errors import ParameterError
from .secrets import mask_value

__all__ = ["Checker", "choice", "existing_file", "header_names", "headers", "integer", "number", "plugin_refs",
           "pulse_only", "subprotocols", "text", "to_bool"]

Checker = Callable[[str, object], object]
"""``check(name, value)``: the value coerced, or :class:`ParameterError`."""

#: Upper bounds no sensible value reaches and every consumer (deques, timers) takes: 2**31 - 1, and a billion seconds.
_LARGEST_INTEGER: Final = 2**31 - 1
_LARGEST_NUMBER: Final = 1e9
_TRUE = {"1", "on", "true", "yes"}
_FALSE = {"0", "off", "false", "no"}


def to_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # TD toggles are 0/1
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ParameterError(name, value, "a boolean (True/False, 1/0, on/off)")


def integer(lo: int, hi: int = _LARGEST_INTEGER, unit: str = "", *, range_: bool = False
             ) -> Callable[[str, object], int]:
    allowed = (f"an integer from {lo} to {hi}" if range_ else f"an integer >= {lo} (at most {hi})") \
        + (f" ({unit})" if unit else "")

    def check(name: str, value: object) -> int:
        number: object = value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value.strip()) <= 30:
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if isinstance(number, bool) or not isinstance(number, int) or number < lo or (hi is not None and number > hi):
            raise ParameterError(name, value, allowed)
        return number

    return check


def number(lo: float, *, lo_inclusive: bool, unit: str) -> Callable[[str, object], float]:
    allowed = f"a finite number {'>=' if lo_inclusive else '>'} {lo:g} and at most {_LARGEST_NUMBER:g} ({unit})"

    def check(name: str, value: object) -> float:
        number: object = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ParameterError(name, value, allowed) from None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                or number > _LARGEST_NUMBER:
            raise ParameterError(name, value, allowed)
        if number < lo or (number == lo and not lo_inclusive):
            raise ParameterError(name, value, allowed)
        return float(number)

    return check


def text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ParameterError(name, value, "a string")
    return value


def choice(choices: Sequence[str]) -> Callable[[str, object], str]:
    def check(name: str, value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise ParameterError(name, value, "one of " + ", ".join(repr(c) for c in choices))

    return check


def existing_file(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ParameterError(name, value, "a path to an existing file, or None")
    path = os.fspath(value)
    if not isinstance(path, str) or not os.path.isfile(path):
        raise ParameterError(name, value, "a path to an existing file, or None (no such file)")
    return path


def plugin_refs(name: str, value: object) -> tuple[object, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, os.PathLike)) or not isinstance(value, (list, tuple)):
        value = [value]
    refs = tuple(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
    for ref in refs:
        if ref is None or (isinstance(ref, str) and not ref.strip()):
            raise ParameterError(name, value, "plugin references: entry-point names, modules, .py paths or objects")
    return refs


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_token(text: str) -> bool:
    return bool(text) and all(ch in _TOKEN_CHARS for ch in text)


def headers(name: str, value: object) -> tuple[tuple[str, str], ...]:
    allowed = "HTTP headers: a mapping, (name, value) pairs or 'Name: value' strings, without line breaks"
    if value is None:
        return ()
    items: list[object]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ParameterError(name, value, allowed)
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            key, sep, val = item.partition(":")
            if not sep:
                raise ParameterError(name, value, allowed + f" ({mask_value(item)!r} has no ':')")
            item = (key, val)
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(p, str) for p in item)):
            raise ParameterError(name, value, allowed)
        key, val = item[0].strip(), item[1].strip()
        if not _is_token(key):
            raise ParameterError(name, value, allowed + f" ({key!r} is not a valid header name)")
        bad = next((ch for ch in val if not _header_value_char(ch)), None)
        if bad is not None:
            raise ParameterError(name, value, allowed + f" ({key!r} is not a valid header: its value holds {bad!r}; "
                                 "values are Latin-1 text without control characters)")
        if key.lower() in _HANDSHAKE_HEADERS:
            raise ParameterError(name, value, allowed + f" ({key!r} is set by wsdat: "
                                 f"{_HANDSHAKE_HEADERS[key.lower()]})")
        pairs.append((key, val))
    return tuple(pairs)


#: Headers the handshake sets itself, and where to change what they say instead.
_HANDSHAKE_HEADERS: Final = {
    "host": "it comes from netaddress", "upgrade": "it is part of the WebSocket handshake",
    "connection": "it is part of the WebSocket handshake", "sec-websocket-key": "it is part of the handshake",
    "sec-websocket-version": "it is part of the handshake", "sec-websocket-accept": "it is the server's",
    "sec-websocket-protocol": "use the subprotocols parameter", "sec-websocket-extensions": "use compression",
    "content-length": "the upgrade request has no body", "transfer-encoding": "the upgrade request has no body",
}


def _header_value_char(ch: str) -> bool:
    """RFC 9110 field-value characters: visible ASCII, space, tab and obs-text (Latin-1 0x80-0xFF)."""
    code = ord(ch)
    return code == 0x09 or 0x20 <= code <= 0x7E or 0x80 <= code <= 0xFF


def header_names(name: str, value: object) -> tuple[str, ...]:
    """Header names: a list, or one string of names separated by commas."""
    if value is None:
        return ()
    items = [part for part in value.split(",") if part.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and _is_token(i.strip()) for i in items):
        raise ParameterError(name, value, "header names (HTTP tokens such as 'X-Api-Key'), a list or separated by "
                             "commas")
    return tuple(i.strip() for i in items)


def subprotocols(name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and _is_token(i.strip()) for i in items):
        raise ParameterError(name, value, "subprotocol names (HTTP tokens such as 'chat' or 'v1.json')")
    return tuple(i.strip() for i in items)


def pulse_only(name: str, value: object) -> None:
    raise ParameterError(name, value, f"nothing: '{name}' is a pulse, call par.{name}.pulse()")
