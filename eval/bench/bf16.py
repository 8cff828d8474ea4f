"""``python -m eval.bench.bf16 [CHUNKS] [ROUNDS]``: why torch-bf16 is ~1.7-2.1x float32 here, not more.

Encodes the starter library's chunks with variants of the same model in alternating rounds
(A-B-...-B-A): float32 with batch 64 (the baseline), bfloat16 weights (``.to(torch.bfloat16)``,
what ``CTO_EMBEDDING_BACKEND=torch-bf16`` does) with batches of 16, 32, 64 and 128, and float32
weights under ``torch.autocast(bfloat16)``. ``SentenceTransformer.encode`` already sorts by
length and runs under ``torch.inference_mode``. Then it profiles one float32 and one bf16 pass
and prints the share of each operator: the matrix products speed up ~2x in bf16, attention,
copies, GELU and layer norm hardly at all, which caps the whole-model gain.

Not part of CI (minutes on two cores); quote ``/proc/loadavg`` with its figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

__all__ = ["main"]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from torch.profiler import ProfilerActivity, profile

    from eval.bench.encoders import _texts
    from kb.core.settings import Settings
    from kb.embed.base import resolve_model_dir

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    chunks = _texts()[0][:count]
    model_dir = str(resolve_model_dir(Settings().embedding_model))
    fp32 = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
    bf16 = SentenceTransformer(model_dir, device="cpu", local_files_only=True).to(torch.bfloat16)
    variants: dict[str, tuple[Any, int, bool]] = {
        "fp32 bs64": (fp32, 64, False), "bf16 bs64": (bf16, 64, False), "bf16 bs16": (bf16, 16, False),
        "bf16 bs32": (bf16, 32, False), "bf16 bs128": (bf16, 128, False), "fp32+autocast bf16 bs64": (fp32, 64, True)}

    def run(name: str) -> None:
        model, batch, autocast = variants[name]
        if autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                model.encode(chunks, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
        else:
            model.encode(chunks, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)

    print(f"threads {torch.get_num_threads()}, {len(chunks)} chunks of {sum(map(len, chunks)) // len(chunks)} "
          "characters on average", flush=True)
    for model, batch, _ in variants.values():
        model.encode(chunks[:32], batch_size=batch)  # warm up
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            run(name)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["fp32 bs64"])
    print("| variant | chunks/s (median) | x fp32 bs64 | passes s |\n|---|---:|---:|---|")
    for name in variants:
        median = statistics.median(times[name])
        print(f"| {name} | {len(chunks) / median:.1f} | {base / median:.2f} | {' '.join(f'{x:.1f}' for x in times[name])} |")
    print("load", open("/proc/loadavg").read().strip(), flush=True)
    for label, model in (("fp32", fp32), ("bf16", bf16)):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model.encode(chunks, batch_size=64)
        rows = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
        total = sum(rows.values())
        top = sorted(rows.items(), key=lambda kv: -kv[1])[:8]
        print(f"{label}: profiled self CPU {total / 1e6:.2f} s; " + "; ".join(
            f"{k} {v / 1e6:.2f} s ({v / total:.0%})" for k, v in top))
    print("load", open("/proc/loadavg").read().strip(), flush=True)


if __name__ == "__main__":
    main()
