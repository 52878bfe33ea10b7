"""A streamed body's bounds: its size cap and its Content-Encoding, undone as it arrives."""

from __future__ import annotations

import zlib
from typing import Any

from pytest_lmbench.errors import StreamError

# A streamed answer past its cap comes from a broken or hostile server (an endless
# stream, or a gzip bomb behind a compressing proxy): the item errors instead of
# filling memory. A chat chunk carries a token in a few hundred bytes; 16 KiB a token
# leaves room for per-chunk stats. Counted after decoding.
STREAM_BYTES_BASE = 1024 * 1024
STREAM_BYTES_PER_TOKEN = 16 * 1024
MAX_STREAM_BYTES = 64 * 1024 * 1024  # also the cap when a request sets no max_tokens


def stream_byte_cap(max_tokens: Any) -> int:
    """The most bytes a streamed answer of ``max_tokens`` tokens may take, decoded."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        return MAX_STREAM_BYTES
    return min(STREAM_BYTES_BASE + STREAM_BYTES_PER_TOKEN * max_tokens, MAX_STREAM_BYTES)


class BodyDecoder:
    """Undo a Content-Encoding (identity, gzip, deflate), never past ``max_bytes`` decoded.

    Streams are requested with ``Accept-Encoding: identity``, but a proxy in front of
    the server may compress anyway; zlib's ``max_length`` keeps a bomb from expanding
    in memory before it is counted.
    """

    def __init__(self, encoding: str | None, max_bytes: int, label: str) -> None:
        name = (encoding or "identity").strip().lower()
        self._label = label
        self._max_bytes = max_bytes
        self._total = 0
        self._zlib: Any = None
        if name in ("gzip", "x-gzip", "deflate"):
            # 32 + MAX_WBITS reads a gzip or zlib header, whichever was sent.
            self._zlib = zlib.decompressobj(32 + zlib.MAX_WBITS)
        elif name != "identity":
            raise StreamError(f"{label} sent the stream with Content-Encoding {name!r}, unreadable")

    def decode(self, chunk: bytes) -> bytes:
        if self._zlib is not None:
            room = self._max_bytes - self._total + 1
            try:
                chunk = self._zlib.decompress(chunk, room)
            except zlib.error as exc:
                raise StreamError(f"{self._label} sent a corrupt compressed stream") from exc
        self._total += len(chunk)
        if self._total > self._max_bytes:
            raise StreamError(
                f"{self._label} streamed more than {self._max_bytes // 1024:,} KiB for this "
                "request; stopped reading (cap: 1 MiB + 16 KiB per max_tokens, at most 64 MiB)"
            )
        return chunk
