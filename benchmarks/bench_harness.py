"""Harness floor: our client against a bare streaming reader on the same scripted server.

Prints TTFT error, decode-speed error and per-token overhead, each as measured
in this one run, with the ratio of our end-to-end time to the bare reader's.

    python benchmarks/bench_harness.py [requests]
"""

from __future__ import annotations

import sys

from pytest_lmbench.runners.calibration import Truth, calibrate_harness

PROFILES = {
    # Realistic pacing: 100 ms to first token, 100 tok/s.
    "paced": Truth(ttft_s=0.100, token_interval_s=0.010, tokens=64),
    # A fast stream stresses per-token overhead: 1 ms per token.
    "fast": Truth(ttft_s=0.010, token_interval_s=0.001, tokens=400),
}


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    for name, truth in PROFILES.items():
        c = calibrate_harness(requests, truth)
        print(
            f"{name:>5}: n={c['n']} TTFT error {c['ttft_error_ms']:+.2f} ms "
            f"(vs bare reader {c['ttft_vs_bare_ms']:+.2f} ms), "
            f"decode error {c['decode_tps_error_pct']:+.2f} % "
            f"(ours {c['decode_tps']:.1f}, bare {c['bare_decode_tps']:.1f}, "
            f"truth {c['truth_decode_tps']:.0f} tok/s), "
            f"overhead {c['overhead_per_token_us']:+.1f} µs/token, "
            f"e2e ratio ours/bare {c['e2e_ratio_to_bare']:.4f}"
        )


if __name__ == "__main__":
    main()
