"""Tiny stdlib PNG text-chunk reader and writer.

The fake servers answer vision requests with the text stored in a PNG text chunk
(key ``lmbench:answer``), which proves that the image really reached the server.
Reading needs no Pillow; writing exists so tests and suites can make such images.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG image")
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise ValueError("truncated PNG chunk")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length  # length, type, body, CRC


def _decode_text(kind: bytes, body: bytes) -> tuple[str, str] | None:
    key, sep, rest = body.partition(b"\0")
    if not sep:
        return None
    name = key.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, zlib.decompress(rest[1:]).decode("latin-1")
    # iTXt: compression flag, method, language\0, translated keyword\0, text (UTF-8)
    compressed, rest = rest[0], rest[2:]
    _language, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return name, (zlib.decompress(text) if compressed else text).decode("utf-8")


def read_png_text(data: bytes) -> dict[str, str]:
    """All tEXt, zTXt and iTXt entries of a PNG; raises ValueError if it is not a PNG."""
    texts: dict[str, str] = {}
    for kind, body in _chunks(data):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            entry = _decode_text(kind, body)
            if entry is not None:
                texts.setdefault(*entry)
    return texts


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _text_chunk(key: str, value: str) -> bytes:
    try:
        return _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # tEXt is Latin-1 only; iTXt carries UTF-8 (uncompressed, no language tag).
        body = key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")
        return _chunk(b"iTXt", body)


def png_with_text(
    texts: Mapping[str, str],
    *,
    width: int = 2,
    height: int = 2,
    rgb: tuple[int, int, int] = (200, 30, 30),
) -> bytes:
    """A valid solid-colour RGB PNG carrying ``texts`` as text chunks."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\0" + bytes(rgb) * width  # filter byte "none", then the pixels
    parts = [PNG_SIGNATURE, _chunk(b"IHDR", header)]
    parts += [_text_chunk(key, value) for key, value in texts.items()]
    parts += [_chunk(b"IDAT", zlib.compress(row * height)), _chunk(b"IEND", b"")]
    return b"".join(parts)
