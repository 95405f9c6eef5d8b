"""The fast loop: whole simple frames decoded straight from the read buffer into runs.

Nearly every frame a server sends is *simple*: final, unmasked, a text or binary opcode, RSV1 only when deflate was
agreed, a minimally encoded length within ``maxmessagesize``, whole in the buffer. Those are decoded here, one slice
and one decode each (compressed ones one bounded inflate first), and runs of small text frames, the commonest case
by far, in tight loops of their own. The first frame that is not simple is left to the careful path
(:class:`~wsdat_core.protocol.reader.FrameReader`), which decides it exactly as it would have alone.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Callable
from typing import Any, Final

from ..model.events import Batch, EventKind, Received
from .deflate import TAIL, Inflater, TooBig
from .frames import DEFLATED_BINARY, DEFLATED_TEXT, FIN_BINARY, FIN_TEXT, TEXT
from .messages import Failure

__all__ = ["FastLoop"]

_TEXT: Final = EventKind.TEXT
_BINARY: Final = EventKind.BINARY
_decode_utf8: Final = codecs.utf_8_decode
#: Text payloads from this size on are decoded from a memoryview of the read, without copying the slice first.
_LARGE: Final = 4096


class FastLoop:
    """Decodes simple frames for a connection with ``limit`` (``maxmessagesize``) and, when deflate was agreed, its
    ``inflater``."""

    __slots__ = ("inflater", "limit")

    def __init__(self, limit: int, inflater: Inflater | None = None) -> None:
        self.limit = limit
        self.inflater = inflater

    def decode(self, buffer: bytes, position: int, end: int, batch: Batch) -> int:
        """Decode whole simple frames from ``position``; return where the first other one starts."""
        limit = self.limit
        small = min(limit, 125)  # a frame with a 7-bit length this long or shorter is within the limit
        inflater = self.inflater
        run_kind: EventKind | None = None
        add: Callable[[Any], None] = list.append  # type: ignore[assignment]  # replaced before first use
        view: memoryview | None = None
        while end - position >= 2:
            first = buffer[position]
            if (first == FIN_TEXT or (first == DEFLATED_TEXT and inflater is not None)) \
                    and buffer[position + 1] <= small and position + 2 + buffer[position + 1] <= end:
                # the common case, a run of small text frames: one slice and one decode each, nothing else
                if run_kind is not _TEXT:
                    add, run_kind = self._appender(batch, _TEXT), _TEXT
                position = self._small_texts(buffer, position, end, small, add) if first == FIN_TEXT else \
                    self._small_deflated_texts(buffer, position, end, small, add)
                if position < 0:  # invalid UTF-8: the careful path fails it as soon as the bad byte is read
                    return -position - 1
                continue
            if first in (FIN_TEXT, FIN_BINARY):
                deflated = False
            elif first in (DEFLATED_TEXT, DEFLATED_BINARY) and inflater is not None:
                deflated = True
            else:
                break
            length = buffer[position + 1]
            if length < 126:
                start = position + 2
            elif length == 126:
                if end - position < 4:
                    break
                length = (buffer[position + 2] << 8) | buffer[position + 3]
                if length < 126:  # not the shortest encoding: the careful path refuses it
                    break
                start = position + 4
            elif length == 127:
                if end - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2:position + 10], "big")
                if length < 65536 or length >> 63:
                    break
                start = position + 10
            else:  # masked: a server must not mask
                break
            stop = start + length
            if stop > end or length > limit:
                break
            kind = _TEXT if first & 0x0F == TEXT else _BINARY
            if kind is not run_kind:
                add, run_kind = self._appender(batch, kind), kind
            if deflated:
                assert inflater is not None
                try:
                    payload = inflater.whole(buffer[start:stop])
                except (TooBig, zlib.error) as exc:
                    raise Failure.inflating(exc, limit) from None
                if kind is _TEXT:
                    try:
                        add(payload.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise Failure(1007, "invalid UTF-8 in a text message") from None
                else:
                    add(payload)
            elif kind is _TEXT:
                try:
                    if length < _LARGE:
                        add(buffer[start:stop].decode())
                    else:  # decoded in place: no copy of the payload first
                        view = view or memoryview(buffer)
                        add(_decode_utf8(view[start:stop], "strict", True)[0])
                except UnicodeDecodeError:
                    break  # the careful path fails it as soon as the bad byte is read
            else:
                add(buffer[start:stop])
            position = stop
        return position

    @staticmethod
    def _appender(batch: Batch, kind: EventKind) -> Callable[[Any], None]:
        """Where payloads of ``kind`` go: the batch's last run when it is of that kind, else a new run."""
        if batch and batch[-1].kind is kind:
            return batch[-1].payloads.append
        run: list[Any] = []
        batch.append(Received(kind, run))
        return run.append

    @staticmethod
    def _small_texts(buffer: bytes, position: int, end: int, small: int, add: Callable[[str], None]) -> int:
        """Decode consecutive whole final text frames of at most ``small`` bytes; return where the first other frame
        starts, or ``-position - 1`` of one whose text is not UTF-8."""
        try:
            while end - position >= 2 and buffer[position] == FIN_TEXT:
                length = buffer[position + 1]
                stop = position + 2 + length
                if length > small or stop > end:
                    break
                add(buffer[position + 2:stop].decode())
                position = stop
        except UnicodeDecodeError:
            return -position - 1
        return position

    def _small_deflated_texts(self, buffer: bytes, position: int, end: int, small: int,
                              add: Callable[[str], None]) -> int:
        """As :meth:`_small_texts` for compressed text frames (RSV1): each inflated (bounded) and decoded."""
        inflater = self.inflater
        assert inflater is not None
        limit = self.limit
        bound = limit + 1
        whole = inflater.whole
        decompress = None if inflater.resets else inflater.decompress  # the context carries over: no call between
        try:
            while end - position >= 2 and buffer[position] == DEFLATED_TEXT:
                length = buffer[position + 1]
                stop = position + 2 + length
                if length > small or stop > end:
                    break
                if decompress is None:
                    data = whole(buffer[position + 2:stop])
                else:
                    data = decompress(buffer[position + 2:stop] + TAIL, bound)
                    if len(data) > limit:
                        raise TooBig
                add(data.decode())
                position = stop
        except (TooBig, zlib.error) as exc:
            raise Failure.inflating(exc, limit) from None
        except UnicodeDecodeError:
            raise Failure(1007, "invalid UTF-8 in a text message") from None
        return position
