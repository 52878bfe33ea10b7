"""The per-item hardware handle behind the ``lm_hardware`` fixture."""

from __future__ import annotations

from urllib.parse import urlsplit

from pytest_lmbench.config.options import Settings
from pytest_lmbench.records import JSON, Hardware
from pytest_lmbench.runners.common import fail
from pytest_lmbench.sampling import (
    HardwareSampler,
    check_limits,
    current_gpu_temp,
    joules_per_token,
    wait_for_cooldown,
)

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
COOLDOWN_TIMEOUT_S = 300.0


def local_port(base_url: str) -> int | None:
    """The server's port when it runs on this machine (to sample its process)."""
    parts = urlsplit(base_url)
    if parts.hostname not in LOCAL_HOSTS:
        return None
    return parts.port or (443 if parts.scheme == "https" else 80)


def session_sampler(settings: Settings, base_url: str) -> HardwareSampler:
    """One sampler per session: NVML init, the sysfs scan and the port lookup happen once."""
    return HardwareSampler(
        settings.lm_sample_interval,
        server_port=local_port(base_url),
        store_samples=settings.lm_store_samples,
    )


def per_token(hardware: Hardware, output_tokens: int | None) -> Hardware:
    """``joules_per_token`` and the window it covers: the measured rounds when they were
    marked (throughput items), else the whole item."""
    windowed = hardware.get("measured_duration_s") is not None
    energy = hardware.get("measured_energy_j") if windowed else hardware.get("energy_j")
    value = joules_per_token(energy, output_tokens)
    window = None if value is None else ("measured_rounds" if windowed else "item")
    return {"joules_per_token": value, "joules_per_token_window": window}


class HardwareHandle:
    def __init__(self, settings: Settings, sampler: HardwareSampler) -> None:
        self._settings = settings
        self._sampler = sampler
        self.result: Hardware | None = None
        self.cooldown: JSON | None = None

    def cool_down(self) -> None:
        """Before a throughput item: wait (bounded) until the GPU is below the target."""
        target = self._settings.lm_cooldown_temp
        if target is None:
            return
        reached, temp, waited = wait_for_cooldown(current_gpu_temp, target, COOLDOWN_TIMEOUT_S)
        self.cooldown = {
            "target_c": target,
            "reached": reached,
            "gpu_temp_c": temp,
            "waited_s": waited,
        }

    def start(self) -> None:
        self._sampler.start()

    def begin_measured(self) -> None:
        """The measured rounds start: calibration and warmup so far cost no energy per token."""
        self._sampler.begin_measured()

    def end_measured(self) -> None:
        self._sampler.end_measured()

    def finish(self, output_tokens: int | None) -> Hardware:
        """Stop sampling; fail the item when a temperature or power limit was exceeded.

        ``output_tokens``: the tokens generated in the measured window when one was
        marked, else in the whole item; ``joules_per_token`` divides that window's energy.
        """
        if self.result is None:
            self.result = self._sampler.stop()
            self.result.update(per_token(self.result, output_tokens))
            if self.cooldown is not None:
                self.result["cooldown"] = self.cooldown
        problem = check_limits(self.result, self._settings.lm_max_temp, self._settings.lm_max_power)
        if problem:
            self.result["limit_exceeded"] = problem
            fail(problem)
        return self.result

    def close(self) -> Hardware:
        if self.result is None:
            self.result = self._sampler.stop()
        return self.result
