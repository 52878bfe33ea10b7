"""The environment dict."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pytest_lmbench
from pytest_lmbench.sampling import collect_environment, lms_version
from pytest_lmbench.sampling.environment import cpu_model, pci_device_name

KEYS = {
    "hostname",
    "os",
    "os_version",
    "kernel",
    "cpu_model",
    "cpu_cores_physical",
    "cpu_cores_logical",
    "ram_gb",
    "gpus",
    "rocm_version",
    "python_version",
    "plugin_version",
    "server",
    "lms_version",
}


def _completed(stdout: str, returncode: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["lms", "version"], returncode, stdout=stdout, stderr="")


def test_environment_has_the_keys(tmp_path: Path, no_nvml: Any) -> None:
    env = collect_environment(
        server_info={"backend": "llamacpp", "version": "b4567", "build": "cuda"},
        nvml=no_nvml,
        sysfs_root=tmp_path,
    )
    assert env.keys() == KEYS
    assert env["os"] == platform.system()
    assert env["kernel"] == platform.release()
    assert env["python_version"] == platform.python_version()
    assert env["plugin_version"] == pytest_lmbench.__version__
    assert env["cpu_cores_logical"] >= 1
    assert env["ram_gb"] > 0
    assert env["gpus"] == []
    assert env["server"] == {"backend": "llamacpp", "version": "b4567", "build": "cuda"}


def test_gpus_from_nvml_and_sysfs(
    fake_nvml: Callable[..., Any], card_factory: Callable[..., Path], tmp_path: Path
) -> None:
    card_factory(tmp_path, 0)
    card_factory(tmp_path, 1, vendor="0x10de")  # seen by NVML already: not listed twice
    rocm = tmp_path / "rocm"
    (rocm / ".info").mkdir(parents=True)
    (rocm / ".info" / "version").write_text("6.1.2-119\n")
    env = collect_environment(nvml=fake_nvml(gpus=1), sysfs_root=tmp_path, rocm_root=rocm)
    assert env["rocm_version"] == "6.1.2-119"
    assert env["gpus"] == [
        {
            "vendor": "NVIDIA",
            "name": "NVIDIA GeForce RTX 4090",
            "memory_total_gb": 24.0,
            "driver_version": "550.54.14",
            "index": 0,
        },
        {
            "vendor": "AMD",
            "name": "AMD GPU 0x744c",
            "memory_total_gb": 24.0,
            "driver_version": "ROCm 6.1.2-119",
            "index": 1,
        },
    ]


def test_sysfs_nvidia_listed_when_nvml_missing(
    no_nvml: Any, card_factory: Callable[..., Path], tmp_path: Path
) -> None:
    device = card_factory(tmp_path, 0, vendor="0x10de", device_id="0x2684")
    (device / "mem_info_vram_total").unlink()
    env = collect_environment(nvml=no_nvml, sysfs_root=tmp_path)
    assert env["gpus"] == [
        {
            "vendor": "NVIDIA",
            "name": "NVIDIA GPU 0x2684",
            "memory_total_gb": None,
            "driver_version": None,
            "index": 0,
        }
    ]


def test_pci_ids_lookup(tmp_path: Path) -> None:
    ids = tmp_path / "pci.ids"
    ids.write_text(
        "# comment\n"
        "1000  Broadcom\n"
        "\t744c  Not this one\n"
        "1002  Advanced Micro Devices, Inc. [AMD/ATI]\n"
        "\t7448  Navi 31 [Radeon Pro W7900]\n"
        "\t744c  Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]\n"
        "\t\t1002 0e3b  Radeon RX 7900 GRE\n"
        "1003  ULSI Systems\n"
    )
    assert (
        pci_device_name("0x1002", "0x744c", (tmp_path / "missing", ids))
        == "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    )
    assert pci_device_name("0x1002", "0x9999", (ids,)) is None


def test_cpu_model_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD Ryzen 9 7950X 16-Core Processor\n")
    assert cpu_model(cpuinfo) == "AMD Ryzen 9 7950X 16-Core Processor"


def test_lms_version(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"argv": argv, **kwargs})
        return _completed("\x1b[1mlms - LM Studio CLI\x1b[0m\nVersion: 0.3.14 (build 5)\n")

    monkeypatch.setattr("shutil.which", lambda name: None)
    assert lms_version(run) is None
    assert calls == []

    monkeypatch.setattr("shutil.which", lambda name: "/usr/local/bin/lms")
    assert lms_version(run) == "0.3.14"
    assert calls[0]["argv"] == ["/usr/local/bin/lms", "version"]
    assert calls[0]["timeout"] == 5


@pytest.mark.parametrize(
    "outcome",
    [
        subprocess.TimeoutExpired(["lms"], 5),
        FileNotFoundError("lms"),
        _completed("", returncode=1),
        _completed("no version here"),
    ],
)
def test_lms_version_failures_are_none(outcome: object, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, subprocess.CompletedProcess)
        return outcome

    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/lms")
    assert lms_version(run) is None


def test_environment_never_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class BrokenNvml:
        def nvmlInit(self) -> None:
            raise OSError("no library")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("probe failed")

    monkeypatch.setattr("psutil.cpu_count", broken)
    monkeypatch.setattr("psutil.virtual_memory", broken)
    monkeypatch.setattr("platform.freedesktop_os_release", broken)
    env = collect_environment(nvml=BrokenNvml(), sysfs_root=tmp_path / "absent", run_cmd=broken)
    assert env.keys() == KEYS
    assert env["cpu_cores_logical"] is None
    assert env["ram_gb"] is None
    assert env["gpus"] == []
