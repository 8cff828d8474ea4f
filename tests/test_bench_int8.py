"""The int8 probe (``python -m eval.bench.int8``): its measures of fidelity and of the CPU, and its message when NNCF
is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from eval.bench.int8 import int8_flags, neighbour_overlap
from tests.conftest import REPO_ROOT

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2 sha_ni
"""


def test_cpu_flags_name_native_int8_instructions_only() -> None:
    assert int8_flags(CPUINFO) == []
    zen4 = CPUINFO.replace("sha_ni", "sha_ni avx512f avx512_vnni avx512_bf16")
    assert int8_flags(zen4) == ["avx512_vnni"]
    assert int8_flags(CPUINFO.replace("avx2 ", "avx2 avx_vnni ")) == ["avx_vnni"]
    assert int8_flags("no flags line here") == []


def test_neighbour_overlap_is_one_for_the_same_vectors_and_falls_when_they_move() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert neighbour_overlap(vectors, vectors) == 1.0
    noisy = vectors + rng.normal(scale=0.5, size=vectors.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    assert 0.0 < neighbour_overlap(vectors, noisy) < 0.9
    shuffled = vectors[rng.permutation(len(vectors))]
    assert neighbour_overlap(vectors, shuffled) < 0.3


@pytest.mark.skipif(importlib.util.find_spec("nncf") is not None, reason="NNCF is installed (eval extra): the probe would run")
def test_probe_without_nncf_says_what_to_install() -> None:
    done = subprocess.run([sys.executable, "-m", "eval.bench.int8"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "scripts/setup.sh --eval" in done.stderr and "Traceback" not in done.stderr
