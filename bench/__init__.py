"""Benchmarks, run as scripts (``python -m bench.<name>``, or ``./dev bench <name>``)."""
