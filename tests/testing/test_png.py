"""The stdlib PNG text-chunk reader and writer."""

from __future__ import annotations

import struct
import zlib

import pytest

from pytest_lmbench.testing import ANSWER_KEY, png_with_text, read_png_text


def test_round_trip_latin1_and_utf8() -> None:
    data = png_with_text({ANSWER_KEY: "A red square", "note": "Grüße, 東京"})
    assert read_png_text(data) == {ANSWER_KEY: "A red square", "note": "Grüße, 東京"}


def test_plain_png_has_no_text() -> None:
    assert read_png_text(png_with_text({})) == {}


def test_compressed_ztxt_chunk() -> None:
    body = b"lmbench:answer\0\0" + zlib.compress(b"zipped answer")
    chunk = struct.pack(">I", len(body)) + b"zTXt" + body + b"\0\0\0\0"
    plain = png_with_text({})
    # Insert after the IHDR chunk (signature 8 + IHDR 25 bytes).
    data = plain[:33] + chunk + plain[33:]
    assert read_png_text(data)[ANSWER_KEY] == "zipped answer"


def test_not_a_png() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        read_png_text(b"GIF89a....")


def test_pillow_can_decode_the_written_png() -> None:
    image = pytest.importorskip("PIL.Image")
    import io

    with image.open(io.BytesIO(png_with_text({ANSWER_KEY: "hi"}, width=3, height=2))) as img:
        img.load()
        assert img.size == (3, 2)
        assert img.text[ANSWER_KEY] == "hi"
