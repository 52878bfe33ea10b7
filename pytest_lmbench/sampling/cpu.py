"""Host CPU/RAM and model-server process signals through psutil.

Signals: ``cpu_pct`` (system-wide, 0-100 over all cores), ``ram_gb`` (total -
available, in 1e9 bytes: what applications hold, comparable across OSes),
``server_cpu_pct`` (psutil convention: 100 = one core, so it can exceed 100)
and ``server_rss_gb`` for the process listening on the server port *and its
descendants* -- Ollama and LM Studio run the model in child processes.
``other_cpu_pct`` (100 = one core) is what every other process used: the
system's busy time minus the server's and this process's own (the harness
parsing streams). It is read only when the server process is known, since a
remote server's load would otherwise count as contention.

Cost matters (the budget is < 1 % of one core at 5 Hz): the port lookup
(``net_connections``) runs at ``begin`` only while the server is not yet
known, process handles are cached, and the descendant list is refreshed
every few seconds rather than every tick.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable

import psutil

from pytest_lmbench.sampling.aggregate import Reading
from pytest_lmbench.sampling.notices import notice_once

# psutil percentages over a window this short are mostly quantisation noise
# (e.g. the tick right after priming), so they are skipped.
_MIN_PERCENT_WINDOW_NS = 10_000_000
_CHILDREN_REFRESH_NS = 5_000_000_000
# A missing server is looked up again at most this often (the lookup may scan
# every process when net_connections is denied, e.g. on macOS without root).
_LOOKUP_RETRY_NS = 30_000_000_000
_GB = 1e9


def find_listening_pid(port: int) -> int | None:
    """PID of the local process listening on TCP ``port``, or None.

    Uses the system-wide table first; when that is denied (macOS without
    root) or hides the owner, falls back to asking each visible process.
    """
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if _is_listener(conn, port) and conn.pid is not None:
                return conn.pid
    except psutil.AccessDenied:
        notice_once(
            "cpu:net_connections",
            "psutil.net_connections denied; scanning own processes for the server port",
        )
    return _scan_processes_for_port(port)


def _is_listener(conn: object, port: int) -> bool:
    laddr = getattr(conn, "laddr", None)
    return (
        getattr(conn, "status", None) == psutil.CONN_LISTEN
        and bool(laddr)
        and getattr(laddr, "port", None) == port
    )


def _scan_processes_for_port(port: int) -> int | None:
    for proc in psutil.process_iter():
        try:
            conns = _process_connections(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if any(_is_listener(conn, port) for conn in conns):
            return proc.pid
    return None


def _process_connections(proc: psutil.Process) -> Iterable[object]:
    # psutil >= 6 renamed Process.connections to net_connections.
    method = getattr(proc, "net_connections", None) or proc.connections
    result: Iterable[object] = method(kind="tcp")
    return result


class CpuSampler:
    """psutil source: system CPU/RAM always, server process when found locally."""

    name = "cpu"
    measures_gpu_power = False

    def __init__(self, server_port: int | None = None) -> None:
        self.server_port = server_port
        self._server: psutil.Process | None = None
        self._procs: list[psutil.Process] = []
        self._next_lookup_ns = 0
        self._next_children_ns = 0
        self._last_percent_ns = 0
        self._server_disabled = False
        self._own = psutil.Process()
        self._cpus = psutil.cpu_count(logical=True) or 1

    @property
    def server_pid(self) -> int | None:
        return self._server.pid if self._server is not None else None

    def begin(self) -> None:
        psutil.cpu_percent(interval=None)  # primes the system-wide counter
        self._prime(self._own)
        self._last_percent_ns = time.monotonic_ns()
        if self.server_port is None or self._server_disabled:
            return
        if self._server is None or not self._server.is_running():
            self._server = None
            self._procs = []
            self._locate_server()
        if self._server is not None:
            self._refresh_children(force=True)

    def _locate_server(self) -> None:
        now = time.monotonic_ns()
        if now < self._next_lookup_ns or self.server_port is None:
            return
        self._next_lookup_ns = now + _LOOKUP_RETRY_NS
        try:
            pid = find_listening_pid(self.server_port)
            self._server = psutil.Process(pid) if pid is not None else None
        except (psutil.AccessDenied, psutil.NoSuchProcess) as exc:
            self._server = None
            notice_once("cpu:server-lookup", f"server process lookup skipped: {exc!r}")
        if self._server is None:
            notice_once(
                "cpu:server-absent",
                f"no local process listens on port {self.server_port}; "
                "server_cpu_pct/server_rss_gb stay null (remote server?)",
            )

    def _refresh_children(self, *, force: bool = False) -> None:
        now = time.monotonic_ns()
        if self._server is None or (not force and now < self._next_children_ns):
            return
        self._next_children_ns = now + _CHILDREN_REFRESH_NS
        try:
            children = self._server.children(recursive=True)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            children = []
        known = {proc.pid: proc for proc in self._procs}
        fresh = [self._server, *children]
        self._procs = [known.get(proc.pid, proc) for proc in fresh]
        for proc in fresh:
            if proc.pid not in known:
                self._prime(proc)

    @staticmethod
    def _prime(proc: psutil.Process) -> None:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            proc.cpu_percent(interval=None)

    def read(self) -> list[Reading]:
        now = time.monotonic_ns()
        with_percent = now - self._last_percent_ns >= _MIN_PERCENT_WINDOW_NS
        readings: list[Reading] = []
        system_pct = psutil.cpu_percent(interval=None) if with_percent else None
        if system_pct is not None:
            readings.append(Reading("cpu_pct", system_pct))
        mem = psutil.virtual_memory()
        readings.append(Reading("ram_gb", (mem.total - mem.available) / _GB))
        if self._server is not None:
            self._refresh_children()
            readings.extend(self._read_server(with_percent))
        if system_pct is not None and any(r.signal == "server_cpu_pct" for r in readings):
            readings.append(Reading("other_cpu_pct", self._other_pct(system_pct, readings)))
        if with_percent:
            self._last_percent_ns = now
        return readings

    def _other_pct(self, system_pct: float, readings: list[Reading]) -> float:
        """Busy time of every process but the server's and ours (100 = one core)."""
        server_pct = next(r.value for r in readings if r.signal == "server_cpu_pct")
        own_pct = 0.0
        # A test server runs inside this process: then it is already counted as the server.
        if all(proc.pid != self._own.pid for proc in self._procs):
            with contextlib.suppress(psutil.Error):
                own_pct = self._own.cpu_percent(interval=None)
        return max(0.0, system_pct * self._cpus - server_pct - own_pct)

    def _read_server(self, with_percent: bool) -> list[Reading]:
        cpu_total = 0.0
        rss_total = 0
        alive: list[psutil.Process] = []
        for proc in self._procs:
            try:
                with proc.oneshot():
                    cpu = proc.cpu_percent(interval=None) if with_percent else 0.0
                    rss = proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue  # a child exited; the server itself is re-checked at begin
            except psutil.AccessDenied:
                self._server_disabled = True
                notice_once(
                    "cpu:server-denied",
                    f"no permission to read server process {proc.pid}; "
                    "server_cpu_pct/server_rss_gb stay null",
                    level=logging.WARNING,
                )
                break
            alive.append(proc)
            cpu_total += cpu
            rss_total += rss
        if self._server_disabled:
            self._server, self._procs = None, []
            return []
        self._procs = alive
        if not alive:
            return []
        readings = [Reading("server_rss_gb", rss_total / _GB)]
        if with_percent:
            readings.append(Reading("server_cpu_pct", cpu_total))
        return readings

    def end(self) -> None:
        """Nothing to close: handles are kept for the next item."""

    def counter_energy_j(self) -> float | None:
        return None

    def counter_now_j(self) -> float | None:
        return None
