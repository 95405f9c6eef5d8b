"""permessage-deflate (RFC 7692): what the client offers, the strict check of the server's answer, and per-connection
compression state with every message's inflated size bounded.

* **Offer**: ``permessage-deflate; client_max_window_bits``, as websockets and browsers offer it.
* **Answer**: the client fails the connection (RFC 7692 section 5) when the server names the extension twice, names
  a parameter not defined for a response, repeats a parameter, gives a value that is not allowed (window bits outside
  8-15, a value on a ``*_no_context_takeover`` flag) or names any other extension (RFC 6455 9.1).
* **Inflating**: :class:`Inflater` inflates each message with an output bound of ``maxmessagesize`` + 1 bytes, so a
  compression bomb is refused after at most that much output (memory stays bounded); a window of 2^15 bytes inflates
  whatever window the server compresses with.
* **Deflating**: :class:`Deflater` compresses what the client sends, within the window the server allows; with a
  256-byte window (``client_max_window_bits=8``, which zlib cannot produce) messages go out uncompressed, as RFC 7692
  allows.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["EXTENSION", "OFFER", "DeflateParams", "Deflater", "Inflater", "NegotiationError", "TooBig",
           "negotiate"]

EXTENSION: Final = "permessage-deflate"
OFFER: Final = "permessage-deflate; client_max_window_bits"
#: What a sender removes from each compressed message and a receiver appends (RFC 7692 7.2.1).
TAIL: Final = b"\x00\x00\xff\xff"
_FLAGS: Final = ("server_no_context_takeover", "client_no_context_takeover")
_BITS: Final = ("server_max_window_bits", "client_max_window_bits")


class NegotiationError(ValueError):
    """The server's answer to the offer cannot be used; the message says why."""


class TooBig(Exception):
    """A message inflated past the bound."""


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """What the server agreed to: context takeover in each direction, and the window the client may compress with."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15
    #: The answer as the server wrote it, for the connect line.
    agreed: str = EXTENSION


def _elements(values: list[str]) -> list[str]:
    """The comma-separated elements of every ``Sec-WebSocket-Extensions`` value, quoted commas respected."""
    elements: list[str] = []
    for value in values:
        current: list[str] = []
        quoted = False
        for char in value:
            if char == '"':
                quoted = not quoted
            if char == "," and not quoted:
                elements.append("".join(current))
                current = []
            else:
                current.append(char)
        elements.append("".join(current))
    return [element.strip() for element in elements if element.strip()]


def _parameter(text: str) -> tuple[str, str | None]:
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if not sep:
        return name, None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return name, value


def negotiate(values: list[str]) -> DeflateParams | None:
    """The deflate parameters the server's ``Sec-WebSocket-Extensions`` values agree to (None: no extension).

    Raises :class:`NegotiationError` naming what is wrong, for every answer RFC 7692 section 5 says fails the
    connection.
    """
    elements = _elements(values)
    if not elements:
        return None
    names = [element.split(";", 1)[0].strip().lower() for element in elements]
    unknown = sorted({name for name in names if name != EXTENSION})
    if unknown:
        raise NegotiationError(f"the server accepted an extension that was not offered: {', '.join(unknown)}")
    if len(elements) > 1:
        raise NegotiationError(f"the server named {EXTENSION} {len(elements)} times, once is allowed")
    seen: dict[str, str | None] = {}
    for part in elements[0].split(";")[1:]:
        name, value = _parameter(part)
        if name in seen:
            raise NegotiationError(f"the server gave the {EXTENSION} parameter {name} twice")
        if name in _FLAGS:
            if value is not None:
                raise NegotiationError(f"the {EXTENSION} parameter {name} takes no value, the server gave {value!r}")
        elif name in _BITS:
            if value is None or not value.isdigit() or not 8 <= int(value) <= 15:
                raise NegotiationError(f"the {EXTENSION} parameter {name} must be 8-15, the server gave {value!r}")
        else:
            raise NegotiationError(f"the server's {EXTENSION} answer has the unknown parameter {name!r}")
        seen[name] = value
    return DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in seen,
        client_no_context_takeover="client_no_context_takeover" in seen,
        server_max_window_bits=int(seen.get("server_max_window_bits") or 15),
        client_max_window_bits=int(seen.get("client_max_window_bits") or 15),
        agreed=elements[0],
    )


class Inflater:
    """Inflates the messages of one connection, each bounded to ``limit`` bytes of output (:class:`TooBig`);
    ``zlib.error`` for data that is not deflate."""

    __slots__ = ("_inflater", "_reset", "limit", "size")

    def __init__(self, params: DeflateParams, limit: int) -> None:
        self.limit = limit
        self._reset = params.server_no_context_takeover
        self._inflater = zlib.decompressobj(wbits=-15)
        #: Bytes inflated so far of the message being read in parts.
        self.size = 0

    @property
    def resets(self) -> bool:
        """Each message starts a new compression context (``server_no_context_takeover``)."""
        return self._reset

    @property
    def decompress(self) -> Callable[[bytes, int], bytes]:
        """The current context's ``decompress(data, max_length)``, for a loop that inflates whole messages itself
        while the context carries over (:attr:`resets` False): append :data:`TAIL`, bound to ``limit + 1``."""
        return self._inflater.decompress

    def whole(self, payload: bytes) -> bytes:
        """A complete message in one piece (the fast path)."""
        inflater = self._inflater
        out = inflater.decompress(payload + TAIL, self.limit + 1)
        if len(out) > self.limit:
            raise TooBig
        if self._reset:
            self._inflater = zlib.decompressobj(wbits=-15)
        return out

    def part(self, piece: bytes) -> bytes:
        """More of a message arriving in parts (fragments, or a frame across reads)."""
        room = self.limit - self.size
        out = self._inflater.decompress(piece, room + 1)
        self.size += len(out)
        if self.size > self.limit:
            raise TooBig
        return out

    def end(self) -> bytes:
        """The message read in parts is complete: what the tail still gives; the bound restarts."""
        out = self.part(TAIL)
        self.size = 0
        if self._reset:
            self._inflater = zlib.decompressobj(wbits=-15)
        return out


class Deflater:
    """Compresses the messages the client sends, as the server agreed."""

    __slots__ = ("_bits", "_deflater", "_reset", "enabled")

    def __init__(self, params: DeflateParams) -> None:
        self._bits = params.client_max_window_bits
        self._reset = params.client_no_context_takeover
        #: False when the agreed window is too small for zlib: messages go out uncompressed (RSV1 off).
        self.enabled = self._bits >= 9
        self._deflater = self._new() if self.enabled else None

    def _new(self) -> zlib._Compress:
        return zlib.compressobj(wbits=-self._bits)

    def compress(self, data: bytes) -> bytes:
        deflater = self._deflater
        assert deflater is not None
        out = deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH)
        if self._reset:
            self._deflater = self._new()
        return out[:-4] if out.endswith(TAIL) else out
