"""The model facts in a GGUF file's header: architecture, quantization, size, context.

Follows the GGUF spec (ggml ``docs/gguf.md``): magic ``GGUF``, a version, the
tensor count, the metadata key/value count, then typed key/value pairs. Only the
metadata is read, and reading stops as soon as the wanted keys are found; tensor
infos and tensor data are never touched. A file that is not GGUF, or is cut or
malformed, gives :class:`GGUFFacts` with ``None`` fields instead of an exception.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (1, 2, 3)
# Sanity caps: a header asking for more than this is malformed, not a model.
MAX_KV_COUNT = 1_000_000
MAX_STRING_BYTES = 16 * 1024 * 1024
MAX_ARRAY_ITEMS = 100_000_000
MAX_ARRAY_DEPTH = 4
KEPT_STRING_BYTES = 4096  # longer values (chat templates, licences) are skipped

# llama.cpp's LLAMA_FTYPE enum (llama.h), the value of ``general.file_type``.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
    41: "Q2_0",
}

# GGUF value types: fixed-size ones as struct formats; 8 is a string, 9 an array.
_FIXED = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9
_GENERAL_KEYS = (
    "general.architecture",
    "general.file_type",
    "general.size_label",
    "general.parameter_count",
    "general.name",
)


class MalformedGGUF(Exception):
    """The header breaks the spec (or the file ends inside it)."""


@dataclass(frozen=True)
class GGUFFacts:
    """What the header says; ``None`` wherever it says nothing (or could not be read)."""

    version: int | None = None
    tensor_count: int | None = None
    architecture: str | None = None
    quantization: str | None = None  # from general.file_type, named as llama.cpp does
    file_type: int | None = None
    size_label: str | None = None  # e.g. "135M"
    parameter_count: int | None = None  # only when the header carries it
    context_length: int | None = None  # <arch>.context_length: the trained maximum
    name: str | None = None
    error: str | None = None  # why the facts are missing, when they are
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("metadata")
        return data


def read_gguf_facts(path: Path) -> GGUFFacts:
    """Read the header of ``path``; never raises (errors end up in ``error``)."""
    try:
        with Path(path).open("rb") as handle:
            return _Reader(handle).facts()
    except OSError as exc:
        return GGUFFacts(error=f"cannot read {path}: {exc.strerror or exc}")
    except MalformedGGUF as exc:
        return GGUFFacts(error=f"{path.name}: {exc}")


def read_gguf_bytes(data: bytes) -> GGUFFacts:
    """The same, from bytes in memory (tests, downloads)."""
    import io

    try:
        return _Reader(io.BytesIO(data)).facts()
    except MalformedGGUF as exc:
        return GGUFFacts(error=str(exc))


class _Reader:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._order = "<"
        self._wide = True  # v1 used 32-bit counts and string lengths

    def _take(self, size: int) -> bytes:
        data = self._handle.read(size)
        if len(data) != size:
            raise MalformedGGUF("the file ends inside the header")
        return data

    def _unpack(self, fmt: str) -> Any:
        return struct.unpack(self._order + fmt, self._take(struct.calcsize(fmt)))[0]

    def _count(self) -> int:
        value: int = self._unpack("Q" if self._wide else "I")
        return value

    def _skip(self, size: int) -> None:
        # Seek may run past the end silently; the next read notices.
        self._handle.seek(size, 1)

    def _string(self, keep: bool) -> str | None:
        length = self._count()
        if length > MAX_STRING_BYTES:
            raise MalformedGGUF(f"a string of {length} bytes")
        if not keep or length > KEPT_STRING_BYTES:
            self._skip(length)
            return None
        return self._take(length).decode("utf-8", errors="replace")

    def _value(self, kind: int, keep: bool, depth: int = 0) -> Any:
        if kind in _FIXED:
            return self._unpack(_FIXED[kind])
        if kind == _STRING:
            return self._string(keep)
        if kind != _ARRAY:
            raise MalformedGGUF(f"unknown value type {kind}")
        if depth >= MAX_ARRAY_DEPTH:
            raise MalformedGGUF("arrays nested too deep")
        item_kind: int = self._unpack("I")
        count = self._count()
        if count > MAX_ARRAY_ITEMS:
            raise MalformedGGUF(f"an array of {count} items")
        if item_kind in _FIXED:
            self._skip(count * struct.calcsize(_FIXED[item_kind]))
        else:
            for _ in range(count):
                self._value(item_kind, False, depth + 1)
        return None  # arrays (token lists, merges) are never needed

    def _header(self) -> tuple[int, int, int]:
        if self._take(4) != MAGIC:
            raise MalformedGGUF("not a GGUF file (bad magic)")
        raw = self._take(4)
        version = struct.unpack("<I", raw)[0]
        if version not in SUPPORTED_VERSIONS and struct.unpack(">I", raw)[0] in SUPPORTED_VERSIONS:
            self._order, version = ">", struct.unpack(">I", raw)[0]  # a big-endian file
        if version not in SUPPORTED_VERSIONS:
            raise MalformedGGUF(f"unsupported GGUF version {version}")
        self._wide = version >= 2
        tensors, kv_count = self._count(), self._count()
        if kv_count > MAX_KV_COUNT:
            raise MalformedGGUF(f"{kv_count} metadata entries")
        return version, tensors, kv_count

    def facts(self) -> GGUFFacts:
        version, tensors, kv_count = self._header()
        found: dict[str, Any] = {}
        wanted: set[str] = set(_GENERAL_KEYS)
        for _ in range(kv_count):
            key = self._string(keep=True)
            kind: int = self._unpack("I")
            keep = key is not None and (key in wanted or key.endswith(".context_length"))
            value = self._value(kind, keep)
            if key is not None and keep:
                found[key] = value
                if key == "general.architecture" and isinstance(value, str):
                    wanted.add(f"{value}.context_length")
            if wanted <= found.keys():
                break  # the rest is tokenizer data: not needed
        return _facts(version, tensors, found)


def _facts(version: int, tensors: int, found: dict[str, Any]) -> GGUFFacts:
    arch = _str(found.get("general.architecture"))
    file_type = _int(found.get("general.file_type"))
    context = _int(found.get(f"{arch}.context_length")) if arch else None
    return GGUFFacts(
        version=version,
        tensor_count=tensors,
        architecture=arch,
        quantization=FILE_TYPES.get(file_type) if file_type is not None else None,
        file_type=file_type,
        size_label=_str(found.get("general.size_label")),
        parameter_count=_int(found.get("general.parameter_count")),
        context_length=context,
        name=_str(found.get("general.name")),
        metadata=found,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
