"""AMD GPU signals from the amdgpu driver's sysfs files (no ROCm needed).

For each ``<root>/class/drm/card<N>/device`` whose ``vendor`` is 0x1002:
``mem_info_vram_used`` and ``mem_info_gtt_used`` (bytes -> ``vram_gb``,
``gtt_gb``; GTT is system RAM mapped for the GPU, what APUs mostly use),
``gpu_busy_percent`` (``gpu_util_pct``), and from ``hwmon/hwmon*``:
``temp1_input`` (millidegrees -> ``gpu_temp_c``) and ``power1_average`` or
``power1_input`` (microwatts -> ``gpu_power_w``).

amdgpu exposes no energy counter, so energy comes from integrating the
sampled power (``energy_source == "power_integral"``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from pytest_lmbench.sampling.aggregate import Reading
from pytest_lmbench.sampling.notices import notice_once

AMD_VENDOR = "0x1002"
_CARD_RE = re.compile(r"card(\d+)$")
_GB = 1e9


class DrmCard(NamedTuple):
    """A DRM card: its number, PCI device directory and PCI vendor id (``0x....``)."""

    number: int
    device: Path
    vendor: str


def read_text(path: Path) -> str | None:
    """Stripped file content, or None when missing or unreadable."""
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def read_int(path: Path) -> int | None:
    text = read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def drm_cards(sysfs_root: Path, vendor: str | None = None) -> list[DrmCard]:
    """DRM cards in card-number order (connectors such as card0-DP-1 are skipped)."""
    cards: list[DrmCard] = []
    try:
        entries = list((sysfs_root / "class" / "drm").iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _CARD_RE.match(entry.name)
        card_vendor = read_text(entry / "device" / "vendor") if match else None
        if match is None or card_vendor is None:
            continue
        if vendor is None or card_vendor.lower() == vendor:
            cards.append(DrmCard(int(match.group(1)), entry / "device", card_vendor.lower()))
    return sorted(cards, key=lambda card: card.number)


def hwmon_dir(device: Path) -> Path | None:
    try:
        found = sorted((device / "hwmon").glob("hwmon*"))
    except OSError:
        return None
    return found[0] if found else None


def _card_files(device: Path) -> dict[str, tuple[Path, float]]:
    """Signal -> (file, scale to the signal's unit) for the files this card has."""
    files: dict[str, tuple[Path, float]] = {
        "vram_gb": (device / "mem_info_vram_used", 1 / _GB),
        "gtt_gb": (device / "mem_info_gtt_used", 1 / _GB),
        "gpu_util_pct": (device / "gpu_busy_percent", 1.0),
    }
    hwmon = hwmon_dir(device)
    if hwmon is not None:
        files["gpu_temp_c"] = (hwmon / "temp1_input", 1e-3)
        # Older kernels/boards only have the instantaneous power1_input.
        power = hwmon / "power1_average"
        if read_int(power) is None:
            power = hwmon / "power1_input"
        files["gpu_power_w"] = (power, 1e-6)
    return {signal: spec for signal, spec in files.items() if read_int(spec[0]) is not None}


def gpu_temperatures(sysfs_root: Path = Path("/sys")) -> list[float]:
    """Current edge temperature of every AMD GPU that reports one."""
    temps: list[float] = []
    for card in drm_cards(sysfs_root, AMD_VENDOR):
        hwmon = hwmon_dir(card.device)
        value = read_int(hwmon / "temp1_input") if hwmon is not None else None
        if value is not None:
            temps.append(value / 1000.0)
    return temps


class AmdSampler:
    """sysfs source; build it with ``open_amd`` so absence is handled."""

    name = "amd"
    measures_gpu_power = True

    def __init__(self, cards: list[DrmCard], index_offset: int = 0) -> None:
        self._files = [
            (index_offset + position, _card_files(card.device))
            for position, card in enumerate(cards)
        ]

    @property
    def gpu_count(self) -> int:
        return len(self._files)

    def begin(self) -> None:
        """Stateless: sysfs values are instantaneous."""

    def read(self) -> list[Reading]:
        readings: list[Reading] = []
        for index, files in self._files:
            for signal, (path, scale) in files.items():
                raw = read_int(path)
                # A transiently unreadable file (GPU in a low-power state) just
                # misses this tick; it is not worth disabling the source.
                if raw is not None:
                    readings.append(Reading(signal, raw * scale, index))
        return readings

    def end(self) -> None:
        """Stateless: nothing to close."""

    def counter_energy_j(self) -> float | None:
        return None

    def counter_now_j(self) -> float | None:
        return None


def open_amd(sysfs_root: Path = Path("/sys"), *, index_offset: int = 0) -> AmdSampler | None:
    """A sysfs source over every AMD GPU, or None (one notice) when there is none."""
    cards = drm_cards(sysfs_root, AMD_VENDOR)
    if not cards:
        notice_once("amd", f"no AMD GPU under {sysfs_root / 'class' / 'drm'}: no AMD signals")
        return None
    return AmdSampler(cards, index_offset)
