"""Which encoder backend runs: picked at start from the CPU's instruction set, or named in the settings.

``CTO_EMBEDDING_BACKEND=auto`` (the default) takes ``torch-bf16`` on CPUs that multiply
bfloat16 natively (the ``avx512_bf16`` or ``amx_bf16`` flags of /proc/cpuinfo); elsewhere,
where emulated bf16 is slower than float32, ``openvino`` (float32) when the package is
installed, else ``torch`` (float32). On an AVX2-only EPYC OpenVINO encoded the starter
library 1.24-1.34x as fast as torch with the same vectors (largest difference 2e-7). All three give
the same index: bf16 vectors are within cosine 0.998 of the float32 ones (``python -m eval
encoders``), so a store built with one is queried with another. Int8 vectors are not: an index built with
``onnx-int8`` records ``<model>+int8`` as its model, and opening it with another backend
fails with a message naming the setting to use (see ``kb.index.store``).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

__all__ = ["cpu_flags", "pick_backend", "BF16_FLAGS", "INT8_BACKENDS"]

logger = logging.getLogger(__name__)
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
INT8_BACKENDS = frozenset({"onnx-int8"})


@lru_cache(maxsize=4)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of the first CPU (empty where /proc/cpuinfo is missing)."""
    try:
        with cpuinfo.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def pick_backend(configured: str, flags: frozenset[str] | None = None, *, openvino: bool | None = None) -> str:
    """The backend to run for a configured one (``auto`` resolved from the CPU flags and the installed packages)."""
    flags = cpu_flags() if flags is None else flags
    if configured != "auto":
        if configured == "torch-bf16" and not flags & BF16_FLAGS:
            logger.warning("backend=torch-bf16 on a CPU without native bf16: expect it slower than torch")
        return configured
    if flags & BF16_FLAGS:
        chosen = "torch-bf16"
    else:
        if openvino is None:
            from kb.embed.openvino_model import openvino_available

            openvino = openvino_available()
        chosen = "openvino" if openvino else "torch"
    logger.info("encoder backend picked backend=%s native_bf16=%s", chosen, bool(flags & BF16_FLAGS))
    return chosen
