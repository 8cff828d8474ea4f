"""Evaluation: gold sets, metrics, runners, benchmarks and reports (``python -m eval``)."""
