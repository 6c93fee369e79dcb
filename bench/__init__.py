"""Benchmarks: run each as ``python -m bench.<name> --help`` (see docs/PERFORMANCE.md)."""
