"""Failing the connection and assembling messages: the pieces of the protocol's careful path that hold state.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import codecs
import zlib
from typing import Any, Final

from ..model.events import Batch, EventKind, Received
from .deflate import Inflater, TooBig

__all__ = ["Failure", "MessageAssembler", "add_payload"]

_TEXT: Final = EventKind.TEXT
_Utf8Decoder: Final = codecs.getincrementaldecoder("utf-8")


class Failure(Exception):
    """Raised inside the parser: fail the connection with ``code``; ``reason`` goes in the close frame, ``message``
    is the error line."""

    def __init__(self, code: int, reason: str, message: str | None = None) -> None:
        self.message = message or f"protocol error: {reason} (closed with {code})"
        super().__init__(self.message)
        self.code = code
        self.reason = reason[:123]

    @classmethod
    def too_big(cls, why: str) -> Failure:
        """A message refused for its size or its number of fragments: 1009, with ``why`` as the close reason."""
        return cls(1009, why, f"{why}; closed with 1009")

    @classmethod
    def inflating(cls, error: TooBig | zlib.error, limit: int) -> Failure:
        """The failure for what inflating a message raised: 1009 past ``limit`` (``maxmessagesize``), else 1007."""
        if isinstance(error, TooBig):
            return cls.too_big(f"message exceeds maxmessagesize {limit} bytes once decompressed")
        return cls(1007, f"invalid permessage-deflate data: {error}")


class MessageAssembler:
    """A data message being assembled from frames (or from a frame arriving in pieces)."""

    __slots__ = ("decoder", "frames", "inflater", "kind", "limit", "parts", "size")

    def __init__(self, kind: EventKind, inflater: Inflater | None, limit: int) -> None:
        self.kind = kind
        self.inflater = inflater
        self.limit = limit
        self.decoder: Any = _Utf8Decoder() if kind is _TEXT else None
        self.parts: list[Any] = []
        self.size = 0  # payload bytes so far (before inflating)
        self.frames = 0

    def feed(self, piece: bytes, last: bool) -> None:
        """More payload; ``last``: the message's final byte is in it. A message that grows past ``limit`` bytes
        (inflated bytes, when compressed) fails with 1009 as soon as it does."""
        inflater = self.inflater
        self.size += len(piece)
        if inflater is None and self.size > self.limit:
            raise Failure.too_big(f"message of at least {self.size} bytes exceeds maxmessagesize {self.limit}")
        try:
            if inflater is not None:
                piece = inflater.part(piece) + (inflater.end() if last else b"")
            if self.decoder is not None:
                self.parts.append(self.decoder.decode(piece, last))
            elif piece:
                self.parts.append(piece)
        except (TooBig, zlib.error) as exc:
            raise Failure.inflating(exc, self.limit) from None
        except UnicodeDecodeError:
            raise Failure(1007, "invalid UTF-8 in a text message") from None

    def payload(self) -> str | bytes:
        if self.decoder is not None:
            return "".join(self.parts)
        return b"".join(self.parts)


def add_payload(batch: Batch, kind: EventKind, payload: Any) -> None:
    """Append ``payload`` to the batch's last run when it is of ``kind``, else to a new run."""
    if batch and batch[-1].kind is kind:
        batch[-1].payloads.append(payload)
    else:
        batch.append(Received(kind, [payload]))
