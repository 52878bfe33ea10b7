"""Measure the CPU cost of the hardware sampler (a script, not a test).

Runs ``HardwareSampler`` at 5 Hz for ~10 s with real psutil readings, server
process tracking (a listening socket of this process stands in for the model
server), a stand-in NVML with two GPUs (so NVML's Python call overhead is
included) and a fake amdgpu sysfs card. The same window is then measured for
a baseline thread that only waits on a ``threading.Event``, as the sampler's
thread does between ticks.

    .venv/bin/python benchmarks/bench_sampler.py [--seconds 10] [--interval 0.2]

Exit status 1 when the sampler costs 1 % of one core or more.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pytest_lmbench.sampling import HardwareSampler

BUDGET_PCT = 1.0


class BenchNvml:
    """Minimal pynvml stand-in: fixed values, two GPUs, a rising energy counter."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __init__(self) -> None:
        self.energy_mj = [0, 0]

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=6 * 10**9, total=24 * 10**9)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=95, memory=60)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 65

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 280_000

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        return 2520

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        self.energy_mj[handle] += 1000
        return self.energy_mj[handle]


def make_amd_tree(root: Path) -> None:
    device = root / "class" / "drm" / "card0" / "device"
    hwmon = device / "hwmon" / "hwmon0"
    hwmon.mkdir(parents=True)
    values = {
        device / "vendor": "0x1002",
        device / "mem_info_vram_used": "8000000000",
        device / "mem_info_gtt_used": "500000000",
        device / "gpu_busy_percent": "80",
        hwmon / "temp1_input": "60000",
        hwmon / "power1_average": "150000000",
    }
    for path, text in values.items():
        path.write_text(text + "\n")


def measure_sampler(seconds: float, interval: float, port: int, sysfs: Path) -> dict[str, Any]:
    sampler = HardwareSampler(interval, server_port=port, nvml=BenchNvml(), sysfs_root=sysfs)
    # Warm-up item: opening sources (NVML init, sysfs scan, port lookup) is a
    # once-per-session cost, not a per-tick one.
    sampler.start()
    sampler.stop()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    main0 = time.thread_time()
    sampler.start()
    time.sleep(seconds)
    hardware = sampler.stop()
    main_cpu = time.thread_time() - main0
    return {
        "process_cpu_s": time.process_time() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        "thread_cpu_s": sampler.thread_cpu_s or 0.0,
        "caller_cpu_s": main_cpu,
        "n_samples": hardware["n_samples"],
        "signals": sorted(k for k, v in hardware.items() if isinstance(v, dict) and v["avg"]),
    }


def measure_baseline(seconds: float, interval: float) -> dict[str, Any]:
    stop = threading.Event()
    result: dict[str, float] = {}

    def idle() -> None:
        start = time.thread_time()
        while not stop.wait(interval):
            pass
        result["thread_cpu_s"] = time.thread_time() - start

    cpu0, wall0 = time.process_time(), time.perf_counter()
    thread = threading.Thread(target=idle, daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return {
        "process_cpu_s": time.process_time() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        "thread_cpu_s": result["thread_cpu_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    hz = 1 / args.interval

    with tempfile.TemporaryDirectory() as tmp, socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        make_amd_tree(Path(tmp))
        sampled = measure_sampler(args.seconds, args.interval, server.getsockname()[1], Path(tmp))
    baseline = measure_baseline(args.seconds, args.interval)

    sampler_pct = 100 * sampled["process_cpu_s"] / sampled["wall_s"]
    thread_pct = 100 * sampled["thread_cpu_s"] / sampled["wall_s"]
    base_pct = 100 * baseline["process_cpu_s"] / baseline["wall_s"]
    per_tick_ms = 1000 * sampled["thread_cpu_s"] / max(sampled["n_samples"] - 1, 1)
    ratio = sampled["process_cpu_s"] / baseline["process_cpu_s"] if baseline["process_cpu_s"] else 0

    print(f"signals read: {', '.join(sampled['signals'])}")
    print(f"samples: {sampled['n_samples']} in {sampled['wall_s']:.2f} s")
    print(f"sampler CPU: {sampler_pct:.3f} % of one core at {hz:g} Hz")
    print(f"  sampler thread: {thread_pct:.3f} % ({per_tick_ms:.3f} ms CPU per tick)")
    print(f"  start()+stop() in the caller: {1000 * sampled['caller_cpu_s']:.2f} ms")
    print(f"baseline idle Event-wait thread: {base_pct:.3f} % of one core")
    print(f"ratio sampler / baseline: {ratio:.1f}x")
    if sampler_pct >= BUDGET_PCT:
        print(f"OVER BUDGET: {sampler_pct:.3f} % >= {BUDGET_PCT} %")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
