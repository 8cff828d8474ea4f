"""BEIR SciFact retrieval benchmark: data loading, evaluation, report."""
