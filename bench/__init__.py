"""Benchmarks of the warm path; each module runs with ``python -m bench.NAME`` (see README, Performance)."""
