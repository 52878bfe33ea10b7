"""The models a fake server has downloaded, as its model lists describe them."""

from __future__ import annotations

from dataclasses import dataclass, field
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

    def __post_init__(self) -> None:
        if not self.publisher:
            self.publisher = self.key.split("/")[0] if "/" in self.key else "lmstudio-community"
        if not self.display_name:
            self.display_name = self.key.split("/")[-1]
        if self.kind == "vlm":
            self.vision = True
        if self.kind == "embedding":
            self.tool_use = False
