"""The models a fake server has downloaded, as its model lists describe them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

ModelKind = Literal["llm", "vlm", "embedding"]


@dataclass
class FakeModel:
    """One downloaded model. ``kind="vlm"`` implies ``vision=True``."""

    key: str
    kind: ModelKind = "llm"
    publisher: str = ""
    display_name: str = ""
    architecture: str = "llama"
    quantization: str = "Q4_K_M"
    bits_per_weight: float = 4
    size_bytes: int = 2_500_000_000
    params_string: str | None = "4B"
    max_context_length: int = 32768
    vision: bool = False
    tool_use: bool = True
    reasoning: bool = False
    load_error: str | None = None
    variants: list[str] = field(default_factory=list)
    format: str = "gguf"
    vram_fraction: float = 1.0  # the share of the loaded model in VRAM (Ollama's /api/ps)
    layers: int = 32  # block_count (Ollama's /api/show): num_gpu counts these
    # The largest GPU offload share that fits: a load asking for more runs out of
    # memory (None: any offload fits).
    max_offload: float | None = None

    def __post_init__(self) -> None:
        if not self.publisher:
            self.publisher = self.key.split("/")[0] if "/" in self.key else "lmstudio-community"
        if not self.display_name:
            self.display_name = self.key.split("/")[-1]
        if self.kind == "vlm":
            self.vision = True
        if self.kind == "embedding":
            self.tool_use = False


def installed_models(*, ollama: bool = False) -> list[FakeModel]:
    """Six installed models with metadata, for discovery and filters (fresh objects).

    Two tool-using LLMs, a vision model without tools, an embedding model, and one
    model in two quantizations: LM Studio lists those as one key with two
    ``variants`` (its selected one described), Ollama as two tags.
    """
    names = {
        "qwen": "qwen3:4b" if ollama else "qwen/qwen3-4b",
        "granite": "granite3.3:8b" if ollama else "ibm/granite-3.3-8b",
        "gemma": "gemma3:4b" if ollama else "google/gemma-3-4b",
        "embed": "nomic-embed-text:latest" if ollama else "text-embedding-nomic-embed-text-v1.5",
    }
    models = [
        FakeModel(
            names["qwen"], architecture="qwen3", params_string="4B", max_context_length=40960
        ),
        FakeModel(
            names["granite"],
            architecture="granite",
            size_bytes=4_900_000_000,
            params_string="8B",
            max_context_length=131072,
        ),
        FakeModel(
            names["gemma"],
            kind="vlm",
            architecture="gemma3",
            size_bytes=3_300_000_000,
            params_string="4B",
            max_context_length=131072,
            tool_use=False,
        ),
        FakeModel(
            names["embed"],
            kind="embedding",
            architecture="nomic-bert",
            quantization="F16",
            bits_per_weight=16,
            size_bytes=274_290_560,
            params_string=None,
            max_context_length=2048,
        ),
    ]
    llama = FakeModel(
        "llama-3.2-1b-instruct",
        architecture="llama",
        size_bytes=807_694_464,
        params_string="1B",
        max_context_length=131072,
        tool_use=False,
    )
    if ollama:
        models.append(replace(llama, key="llama3.2:1b-instruct-q4_K_M"))
        models.append(
            replace(
                llama,
                key="llama3.2:1b-instruct-q8_0",
                quantization="Q8_0",
                bits_per_weight=8.0,
                size_bytes=1_321_098_560,
            )
        )
    else:
        llama.variants = ["llama-3.2-1b-instruct@q4_k_m", "llama-3.2-1b-instruct@q8_0"]
        models.append(llama)
    return models
