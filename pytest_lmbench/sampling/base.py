"""The background hardware sampler that runs during each benchmark item.

``HardwareSampler`` owns a set of signal sources (anything implementing the
``Sampler`` protocol: CPU/RAM via psutil, NVIDIA via NVML, AMD via sysfs) and
polls them on a daemon thread at a fixed interval while an item runs::

    sampler = HardwareSampler(interval_s=0.2, server_port=1234)
    sampler.start()
    ...                      # run the item
    hardware = sampler.stop()  # the per-item ``hardware`` dict

Reuse one instance across items: sources are opened on the first ``start()``
and kept, so NVML init, the sysfs scan and the server-port lookup happen once.

Nothing here raises into the caller. A source that fails is disabled and
reported once per session through ``logging.getLogger("pytest_lmbench.sampling")``.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from pytest_lmbench.records import Hardware
from pytest_lmbench.sampling.aggregate import Mark, Reading, Tick, build_hardware, empty_hardware
from pytest_lmbench.sampling.amd import open_amd
from pytest_lmbench.sampling.cpu import CpuSampler
from pytest_lmbench.sampling.notices import notice_once
from pytest_lmbench.sampling.nvidia import open_nvidia

DEFAULT_INTERVAL_S = 0.2


class Sampler(Protocol):
    """One source of hardware signals, driven by ``HardwareSampler``.

    ``begin``/``end`` bracket an item (prime counters, read energy counters);
    ``read`` is called on the sampler thread every interval. Any of them may
    raise: the caller disables the source and logs one notice.
    """

    name: str
    # True when the source reports gpu_power_w: energy then comes from its
    # counter (if every such source has one) or from the power integral.
    measures_gpu_power: bool

    def begin(self) -> None: ...

    def read(self) -> list[Reading]: ...

    def end(self) -> None: ...

    def counter_energy_j(self) -> float | None: ...

    def counter_now_j(self) -> float | None:
        """The energy counter's running total now (J), to mark a window; None without one."""
        ...


def open_default_sources(
    server_port: int | None, nvml: Any | None, sysfs_root: Path
) -> list[Sampler]:
    """CPU always; NVIDIA and AMD when present (absence is noticed, not raised)."""

    sources: list[Sampler] = [CpuSampler(server_port)]
    nvidia = open_nvidia(nvml)
    if nvidia is not None:
        sources.append(nvidia)
    # AMD indices follow NVIDIA's so gpu_index is unique on mixed machines,
    # in the same order as collect_environment() lists the GPUs.
    amd = open_amd(sysfs_root, index_offset=nvidia.gpu_count if nvidia is not None else 0)
    if amd is not None:
        sources.append(amd)
    return sources


class HardwareSampler:
    """Samples hardware signals on a daemon thread between ``start()`` and ``stop()``.

    ``interval_s``: time between readings; ``server_port``: port of a local
    model server whose process (and children) CPU/RSS are tracked;
    ``store_samples``: add every raw per-GPU reading to the result;
    ``nvml``: a pynvml-like module (default: import ``pynvml`` lazily);
    ``sysfs_root``: where to look for AMD GPUs; ``sources``: replace the
    default sources altogether (tests, benchmarks).

    ``begin_measured()``/``end_measured()`` mark the part of the item that
    energy per token covers (a throughput item's measured rounds, not its
    calibration or warmup); the result then has ``measured_energy_j``.

    After ``stop()``, ``last_result`` holds the returned dict (handy with
    ``with sampler:``) and ``thread_cpu_s`` the CPU time the thread used.
    Readings are taken at t=0, every ``interval_s`` on a fixed grid, and once
    more in ``stop()``; a busy pure-Python caller holding the GIL can delay a
    tick by a few ms, which the recorded sample times reflect.
    """

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        server_port: int | None = None,
        store_samples: bool = False,
        *,
        nvml: Any | None = None,
        sysfs_root: Path = Path("/sys"),
        sources: list[Sampler] | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.server_port = server_port
        self.store_samples = store_samples
        self._nvml = nvml
        self._sysfs_root = sysfs_root
        self._sources = sources
        self._active: list[Sampler] = list(sources) if sources is not None else []
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._ticks: list[Tick] = []
        self._start_ns = 0
        self._measured: list[Mark] = []
        self.thread_cpu_s: float | None = None
        self.last_result: Hardware | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Begin sampling; a no-op (with a notice) when already running."""
        if self._thread is not None:
            notice_once("sampler:double-start", "HardwareSampler.start() while running: ignored")
            return
        try:
            self._start()
        except Exception as exc:  # never break the item because of sampling
            notice_once(
                "sampler:start", f"hardware sampling unavailable: {exc!r}", level=logging.WARNING
            )
            self._thread = None

    def _start(self) -> None:
        if self._sources is None:
            self._sources = open_default_sources(self.server_port, self._nvml, self._sysfs_root)
            self._active = list(self._sources)
        self._ticks = []
        self._measured = []
        self.thread_cpu_s = None
        for source in list(self._active):
            self._call(source, "begin")
        # After begin(): a first-item port lookup is setup, not item time.
        self._start_ns = time.monotonic_ns()
        # A fresh event per item: a hung thread from an earlier item keeps its
        # own (set) event and still exits once its driver call returns.
        self._stop_event = threading.Event()
        thread = threading.Thread(
            target=self._run,
            args=(self._ticks, self._stop_event, self._start_ns),
            name="lmbench-hw-sampler",
            daemon=True,
        )
        thread.start()
        self._thread = thread

    def begin_measured(self) -> None:
        """Mark the start of the measured window (ignored when not sampling)."""
        self._measured = [self._mark()] if self._thread is not None else []

    def end_measured(self) -> None:
        """Mark its end; without a matching begin_measured() nothing is recorded."""
        if self._thread is not None and len(self._measured) == 1:
            self._measured.append(self._mark())

    def _mark(self) -> Mark:
        return Mark(time.monotonic_ns(), self._counter_sum("counter_now_j"))

    def stop(self) -> Hardware:
        """Stop sampling and return the per-item ``hardware`` dict (never raises)."""
        thread, self._thread = self._thread, None
        if thread is None:
            self.last_result = empty_hardware(self.interval_s)
            return self.last_result
        try:
            result = self._stop(thread)
        except Exception as exc:
            notice_once("sampler:stop", f"hardware sampling failed: {exc!r}", level=logging.WARNING)
            result = empty_hardware(self.interval_s)
        self.last_result = result
        return result

    def _stop(self, thread: threading.Thread) -> Hardware:
        self._stop_event.set()
        # A hung driver call must not hang the test session.
        thread.join(timeout=max(2.0, 5 * self.interval_s))
        joined = not thread.is_alive()
        if joined:
            # One last reading so items shorter than the interval still get data.
            self._ticks.append(self._tick())
            for source in list(self._active):
                self._call(source, "end")
        else:
            notice_once(
                "sampler:hung",
                "hardware sampler thread did not stop in time",
                level=logging.WARNING,
            )
        end_ns = time.monotonic_ns()
        return build_hardware(
            list(self._ticks),
            start_ns=self._start_ns,
            end_ns=end_ns,
            interval_s=self.interval_s,
            counter_energy_j=self._counter_sum("counter_energy_j") if joined else None,
            store_samples=self.store_samples,
            measured=(self._measured[0], self._measured[1]) if len(self._measured) == 2 else None,
        )

    def _run(self, ticks: list[Tick], stop_event: threading.Event, start_ns: int) -> None:
        cpu_start = time.thread_time()
        interval_ns = int(self.interval_s * 1e9)
        next_ns = start_ns
        try:
            # The first tick is unconditional so even an item stopped at once
            # has a reading at its start as well as the final one from stop().
            while True:
                ticks.append(self._tick())
                # Schedule on a fixed grid so read time does not stretch the
                # interval; skip missed slots instead of bursting to catch up.
                now = time.monotonic_ns()
                next_ns += interval_ns
                if next_ns <= now:
                    next_ns = now + interval_ns - (now - start_ns) % interval_ns
                if stop_event.wait((next_ns - now) / 1e9):
                    break
        except Exception as exc:
            notice_once(
                "sampler:thread", f"hardware sampler thread stopped: {exc!r}", level=logging.WARNING
            )
        finally:
            self.thread_cpu_s = time.thread_time() - cpu_start

    def _tick(self) -> Tick:
        t_ns = time.monotonic_ns()
        readings: list[Reading] = []
        for source in list(self._active):
            try:
                readings.extend(source.read())
            except Exception as exc:
                self._disable(source, "read", exc)
        return Tick(t_ns, readings)

    def _call(self, source: Sampler, method: str) -> None:
        try:
            getattr(source, method)()
        except Exception as exc:
            self._disable(source, method, exc)

    def _disable(self, source: Sampler, method: str, exc: BaseException) -> None:
        if source in self._active:
            self._active.remove(source)
        notice_once(
            f"source:{source.name}",
            f"{source.name} sampling disabled after {method}() failed: {exc!r}",
            level=logging.WARNING,
        )

    def _counter_sum(self, method: str) -> float | None:
        """Sum over GPU sources of ``counter_energy_j`` (since begin) or ``counter_now_j``;
        None unless every GPU source has a counter."""
        power_sources = [s for s in self._active if s.measures_gpu_power]
        if not power_sources:
            return None
        total = 0.0
        for source in power_sources:
            try:
                value = getattr(source, method)()
            except Exception:
                return None
            if value is None:
                return None
            total += value
        return total

    def __enter__(self) -> HardwareSampler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
