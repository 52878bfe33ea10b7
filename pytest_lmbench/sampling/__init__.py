"""Hardware sampling, environment description, fingerprints and thermal checks.

Public API::

    from pytest_lmbench.sampling import HardwareSampler, joules_per_token

    sampler = HardwareSampler(interval_s=0.2, server_port=1234)
    with sampler:
        ...                               # run one benchmark item
    hardware = sampler.last_result        # or: sampler.start(); ...; sampler.stop()
    j_per_tok = joules_per_token(hardware["energy_j"], completion_tokens)

``sampler.begin_measured()``/``end_measured()`` between start and stop add
``measured_energy_j`` over that window only (what a throughput item's
``joules_per_token`` divides: its measured rounds, not calibration or warmup).
"""

from __future__ import annotations

from pytest_lmbench.sampling.aggregate import SIGNALS, Reading, joules_per_token
from pytest_lmbench.sampling.base import DEFAULT_INTERVAL_S, HardwareSampler, Sampler
from pytest_lmbench.sampling.environment import collect_environment, lms_version
from pytest_lmbench.sampling.fingerprint import fingerprint, run_fingerprint
from pytest_lmbench.sampling.notices import notice_once, reset_notices
from pytest_lmbench.sampling.thermal import check_limits, current_gpu_temp, wait_for_cooldown

__all__ = [
    "DEFAULT_INTERVAL_S",
    "SIGNALS",
    "HardwareSampler",
    "Reading",
    "Sampler",
    "check_limits",
    "collect_environment",
    "current_gpu_temp",
    "fingerprint",
    "joules_per_token",
    "lms_version",
    "notice_once",
    "reset_notices",
    "run_fingerprint",
    "wait_for_cooldown",
]
