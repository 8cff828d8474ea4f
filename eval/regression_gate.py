"""The regression gate: the minimum each gold-set metric may reach before CI fails.

Thresholds live in ``eval/thresholds.yaml``, set a little below the measured
baseline so that noise passes and a real regression does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["THRESHOLDS", "load_thresholds", "check"]

THRESHOLDS = Path(__file__).with_name("thresholds.yaml")


def load_thresholds(gold: str, path: Path = THRESHOLDS) -> dict[str, float]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {k: float(v) for k, v in (data.get(gold) or {}).items()}


def check(overall: dict[str, Any], gold: str, path: Path = THRESHOLDS) -> list[str]:
    """Return one line per metric below its threshold (empty when the gate passes)."""
    failures = []
    for metric, minimum in load_thresholds(gold, path).items():
        value = float(overall.get(metric, 0.0))
        if value < minimum:
            failures.append(f"{metric} = {value:.3f} is below the gate's {minimum:.3f}")
    return failures
