"""CI gates: per-item limits from a gates file, baselines and their comparison, the summary."""
