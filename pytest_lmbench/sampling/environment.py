"""The run's ``environment`` dict: OS, CPU, RAM, GPUs, Python, plugin and server.

Collected once per session. Every probe is guarded: an unknown field is
None, never an exception. GPUs are listed NVIDIA (NVML) first, then AMD and
Intel from sysfs, then NVIDIA cards seen only in sysfs (NVML missing); the
``index`` field is the position in that list and matches ``gpu_index`` in
hardware samples.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psutil

from pytest_lmbench.records import JSON
from pytest_lmbench.sampling.amd import AMD_VENDOR, DrmCard, drm_cards, read_int, read_text
from pytest_lmbench.sampling.nvidia import decode, device_handles, load_nvml

RunCmd = Callable[..., "subprocess.CompletedProcess[str]"]
T = TypeVar("T")

NVIDIA_VENDOR = "0x10de"
INTEL_VENDOR = "0x8086"
_VENDOR_NAMES = {AMD_VENDOR: "AMD", INTEL_VENDOR: "Intel", NVIDIA_VENDOR: "NVIDIA"}
_PCI_IDS = (
    Path("/usr/share/hwdata/pci.ids"),
    Path("/usr/share/misc/pci.ids"),
    Path("/usr/share/pci.ids"),
)
_VERSION_RE = re.compile(r"\d+\.\d+(?:\.\d+)*(?:[-+.]?[0-9A-Za-z]+)*")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_GB = 1e9


def _safe(probe: Callable[[], T]) -> T | None:
    try:
        return probe()
    except Exception:
        return None


def collect_environment(
    *,
    server_info: Mapping[str, Any] | None = None,
    nvml: Any | None = None,
    sysfs_root: Path = Path("/sys"),
    run_cmd: RunCmd = subprocess.run,
    cpuinfo_path: Path = Path("/proc/cpuinfo"),
    rocm_root: Path = Path("/opt/rocm"),
) -> JSON:
    """Describe this machine and software stack; never raises."""
    from pytest_lmbench import __version__

    rocm = _safe(lambda: read_text(rocm_root / ".info" / "version"))
    return {
        # Which machine ran it (the dashboard filters a shared store by it); not in fingerprints.
        "hostname": _safe(platform.node) or None,
        "os": _safe(platform.system) or None,
        "os_version": _safe(_os_version),
        "kernel": _safe(platform.release) or None,
        "cpu_model": _safe(lambda: cpu_model(cpuinfo_path, run_cmd)),
        "cpu_cores_physical": _safe(lambda: psutil.cpu_count(logical=False)),
        "cpu_cores_logical": _safe(lambda: psutil.cpu_count(logical=True)),
        "ram_gb": _safe(lambda: round(psutil.virtual_memory().total / _GB, 2)),
        "gpus": _safe(lambda: list_gpus(nvml, sysfs_root, rocm)) or [],
        "rocm_version": rocm or None,
        "python_version": platform.python_version(),
        "plugin_version": __version__,
        "server": dict(server_info) if server_info is not None else None,
        "lms_version": lms_version(run_cmd),
    }


def _os_version() -> str | None:
    system = platform.system()
    if system == "Linux":
        try:
            pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
        except OSError:
            pretty = None
        if pretty:
            return pretty
    if system == "Darwin" and platform.mac_ver()[0]:
        return f"macOS {platform.mac_ver()[0]}"
    return platform.version() or None


def cpu_model(
    cpuinfo_path: Path = Path("/proc/cpuinfo"), run_cmd: RunCmd = subprocess.run
) -> str | None:
    """CPU marketing name: /proc/cpuinfo, sysctl on macOS, else platform.processor()."""
    text = _safe(lambda: cpuinfo_path.read_text(encoding="utf-8", errors="replace"))
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    if platform.system() == "Darwin":
        brand = _run_stdout(run_cmd, ["sysctl", "-n", "machdep.cpu.brand_string"])
        if brand:
            return brand
    return platform.processor() or platform.machine() or None


def _run_stdout(run_cmd: RunCmd, argv: list[str]) -> str | None:
    try:
        done = run_cmd(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0 or not isinstance(done.stdout, str):
        return None
    return done.stdout.strip() or None


def lms_version(run_cmd: RunCmd = subprocess.run) -> str | None:
    """LM Studio's version from ``lms version`` when the CLI is on PATH, else None."""
    exe = shutil.which("lms")
    if exe is None:
        return None
    output = _run_stdout(run_cmd, [exe, "version"])
    match = _VERSION_RE.search(_ANSI_RE.sub("", output or ""))
    return match.group(0) if match else None


def list_gpus(nvml: Any | None, sysfs_root: Path, rocm_version: str | None) -> list[JSON]:
    """GPUs as ``{vendor, name, memory_total_gb, driver_version, index}``."""
    gpus = _nvml_gpus(nvml)
    have_nvml = bool(gpus)
    cards = drm_cards(sysfs_root)
    order = [AMD_VENDOR, INTEL_VENDOR] + ([] if have_nvml else [NVIDIA_VENDOR])
    for vendor in order:
        for card in (c for c in cards if c.vendor == vendor):
            gpus.append(_sysfs_gpu(card, sysfs_root, rocm_version))
    for index, gpu in enumerate(gpus):
        gpu["index"] = index
    return gpus


def _nvml_gpus(nvml: Any | None) -> list[JSON]:
    module = load_nvml(nvml)
    if module is None:
        return []
    driver = _safe(lambda: decode(module.nvmlSystemGetDriverVersion()))
    return [_nvml_gpu(module, handle, driver) for handle in device_handles(module)]


def _nvml_gpu(module: Any, handle: Any, driver: str | None) -> JSON:
    total = _safe(lambda: float(module.nvmlDeviceGetMemoryInfo(handle).total))
    return {
        "vendor": "NVIDIA",
        "name": _safe(lambda: decode(module.nvmlDeviceGetName(handle))),
        "memory_total_gb": round(total / _GB, 2) if total is not None else None,
        "driver_version": driver,
        "index": None,
    }


def _sysfs_gpu(card: DrmCard, sysfs_root: Path, rocm_version: str | None) -> JSON:
    total = read_int(card.device / "mem_info_vram_total")
    driver_version = _module_version(card.device, sysfs_root)
    if card.vendor == AMD_VENDOR and rocm_version:
        # llama.cpp/Ollama ROCm builds run on the ROCm user-space stack, so its
        # version is the one that matters for speed.
        driver_version = f"ROCm {rocm_version}"
    return {
        "vendor": _VENDOR_NAMES.get(card.vendor, card.vendor),
        "name": _sysfs_gpu_name(card),
        "memory_total_gb": round(total / _GB, 2) if total else None,
        "driver_version": driver_version,
        "index": None,
    }


def _module_version(device: Path, sysfs_root: Path) -> str | None:
    """Out-of-tree driver version (``/sys/module/<driver>/version``); in-tree has none."""
    try:
        driver = (device / "driver").resolve(strict=True).name
    except OSError:
        return None
    return read_text(sysfs_root / "module" / driver / "version") or None


def _sysfs_gpu_name(card: DrmCard) -> str:
    product = read_text(card.device / "product_name")
    if product:
        return product
    device_id = read_text(card.device / "device") or "?"
    vendor_name = _VENDOR_NAMES.get(card.vendor, card.vendor)
    found = pci_device_name(card.vendor, device_id)
    return f"{vendor_name} {found}" if found else f"{vendor_name} GPU {device_id}"


def pci_device_name(vendor: str, device: str, databases: tuple[Path, ...] = _PCI_IDS) -> str | None:
    """Device name from the system's pci.ids (hwdata), when installed."""
    vendor_hex = vendor.lower().removeprefix("0x")
    device_hex = device.lower().removeprefix("0x")
    for database in databases:
        found = _search_pci_ids(_lines(database), vendor_hex, device_hex)
        if found:
            return found
    return None


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            yield from handle
    except OSError:
        return


def _search_pci_ids(lines: Iterator[str], vendor_hex: str, device_hex: str) -> str | None:
    in_vendor = False
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith("\t"):
            if in_vendor:
                return None  # left the vendor block without a match
            in_vendor = line.lower().startswith(vendor_hex + " ")
        elif in_vendor and not line.startswith("\t\t"):
            ident, _, name = line.strip().partition(" ")
            if ident.lower() == device_hex:
                return name.strip()
    return None
