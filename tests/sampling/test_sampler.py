"""HardwareSampler with real psutil readings, and its failure handling."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_lmbench.sampling import SIGNALS, HardwareSampler, Reading
from pytest_lmbench.sampling.cpu import CpuSampler, find_listening_pid


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def _busy(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.005)


def test_real_psutil_readings(tmp_path: Path, no_nvml: Any) -> None:
    sampler = HardwareSampler(0.05, nvml=no_nvml, sysfs_root=tmp_path)
    sampler.start()
    _busy(0.5)
    hardware = sampler.stop()

    assert hardware["n_samples"] >= 5
    assert hardware["interval_s"] == 0.05
    assert 0.45 <= hardware["duration_s"] < 2.0
    cpu = hardware["cpu_pct"]
    assert 0.0 <= cpu["min"] <= cpu["avg"] <= cpu["max"] <= 100.0
    total_gb = psutil.virtual_memory().total / 1e9
    assert 0.0 < hardware["ram_gb"]["min"] <= hardware["ram_gb"]["max"] <= total_gb
    # No server port, no GPU: keys present, values null.
    for signal in ("server_cpu_pct", "server_rss_gb", "vram_gb", "gpu_temp_c"):
        assert hardware[signal] == {"min": None, "max": None, "avg": None}
    assert hardware["energy_j"] is None
    assert hardware["energy_source"] is None
    assert set(SIGNALS) <= hardware.keys()
    assert "samples" not in hardware


def test_server_process_found_by_listening_port(
    listening_port: int, tmp_path: Path, no_nvml: Any
) -> None:
    assert find_listening_pid(listening_port) == os.getpid()
    sampler = HardwareSampler(
        0.05, server_port=listening_port, store_samples=True, nvml=no_nvml, sysfs_root=tmp_path
    )
    with sampler:
        _busy(0.3)
    hardware = sampler.last_result
    assert hardware is not None
    # The server's RSS includes its child processes (model runners), which in a test
    # worker may be other tests' subprocesses: only a lower bound is exact.
    own_rss_gb = psutil.Process().memory_info().rss / 1e9
    assert hardware["server_rss_gb"]["max"] >= own_rss_gb * 0.5
    assert hardware["server_cpu_pct"]["avg"] is not None
    assert hardware["server_cpu_pct"]["min"] >= 0.0
    signals = {sample["signal"] for sample in hardware["samples"]}
    assert {"cpu_pct", "ram_gb", "server_cpu_pct", "server_rss_gb"} <= signals
    assert all(sample["gpu_index"] is None for sample in hardware["samples"])


def test_server_lookup_is_cached_across_items(
    listening_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = psutil.net_connections

    def counting(kind: str = "inet") -> Any:
        calls.append(1)
        return real(kind=kind)

    monkeypatch.setattr(psutil, "net_connections", counting)
    cpu = CpuSampler(listening_port)
    for _ in range(3):
        cpu.begin()
        cpu.read()
        cpu.end()
    assert len(calls) == 1
    assert cpu.server_pid == os.getpid()


def test_remote_server_gives_null_server_fields_and_one_notice(
    notices: Callable[[str], list[str]], tmp_path: Path, no_nvml: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]  # bound but not listening
    sampler = HardwareSampler(0.05, server_port=free_port, nvml=no_nvml, sysfs_root=tmp_path)
    for _ in range(2):
        sampler.start()
        hardware = sampler.stop()
    assert hardware["server_rss_gb"]["avg"] is None
    assert len(notices(f"port {free_port}")) == 1


class _Exploding:
    name = "exploding"
    measures_gpu_power = False

    def __init__(self, fail_in: str) -> None:
        self.fail_in = fail_in
        self.reads = 0

    def begin(self) -> None:
        if self.fail_in == "begin":
            raise RuntimeError("boom at begin")

    def read(self) -> list[Reading]:
        self.reads += 1
        if self.fail_in == "read":
            raise RuntimeError("boom at read")
        return [Reading("gpu_temp_c", 50.0, 0)]

    def end(self) -> None:
        pass

    def counter_energy_j(self) -> None:
        return None

    def counter_now_j(self) -> None:
        return None


class _Steady(_Exploding):
    name = "steady"

    def __init__(self) -> None:
        super().__init__(fail_in="nowhere")


@pytest.mark.parametrize("fail_in", ["begin", "read"])
def test_failing_source_is_disabled_with_one_notice(
    fail_in: str, notices: Callable[[str], list[str]]
) -> None:
    bad, good = _Exploding(fail_in), _Steady()
    sampler = HardwareSampler(0.02, sources=[bad, good])
    for _ in range(2):
        sampler.start()
        time.sleep(0.1)
        hardware = sampler.stop()
    assert hardware["gpu_temp_c"]["max"] == 50.0
    assert hardware["n_samples"] >= 3
    assert len(notices("exploding sampling disabled")) == 1
    assert bad.reads <= 1


def test_stop_without_start_and_double_start() -> None:
    sampler = HardwareSampler(0.05, sources=[_Steady()])
    assert sampler.stop()["n_samples"] == 0
    sampler.start()
    sampler.start()  # ignored, not a second thread
    states = [sampler.running]
    hardware = sampler.stop()
    states.append(sampler.running)
    assert states == [True, False]
    assert hardware["n_samples"] >= 1
    assert sampler.thread_cpu_s is not None


def test_short_item_still_gets_two_samples() -> None:
    sampler = HardwareSampler(10.0, sources=[_Steady()])
    sampler.start()
    started = time.monotonic()
    hardware = sampler.stop()
    # The event wakes the thread at once: stop does not wait out the interval.
    assert time.monotonic() - started < 1.0
    assert hardware["n_samples"] == 2


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        HardwareSampler(0)


class _Hanging(_Steady):
    name = "hanging"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def read(self) -> list[Reading]:
        if threading.current_thread().name == "lmbench-hw-sampler":
            self.entered.set()
            self.release.wait(10)
        return super().read()


def test_hung_source_does_not_hang_stop(notices: Callable[[str], list[str]]) -> None:
    source = _Hanging()
    sampler = HardwareSampler(0.05, sources=[source])
    sampler.start()
    assert source.entered.wait(5)
    started = time.monotonic()
    hardware = sampler.stop()
    try:
        assert time.monotonic() - started < 5.0
        assert hardware["n_samples"] == 0
        assert len(notices("did not stop in time")) == 1
    finally:
        source.release.set()
