"""``python -m eval.bench.int8 [ROUNDS]``: whether an int8 encoder pays on this CPU, measured.

Quantizes the OpenVINO encoder's float32 model with NNCF's post-training quantization
(transformer mode: per-channel weight scales, SmoothQuant, layer norms, softmax and GELU kept
in float; the ``mixed`` preset, asymmetric activations), calibrated on the even-numbered chunks
of the starter library. Then, on the odd-numbered chunks (not seen in calibration):

- fidelity: cosine of each int8 vector to its float32 vector, and how many of each chunk's five
  nearest neighbours stay the same (what retrieval would see);
- speed: both models compiled the way the OpenVINO backend compiles (one single-threaded
  stream per core, float32 precision hint), encoding the same batches in alternating rounds
  (A-B-B-A), wall time and the process's CPU time (the CPU time holds when other work shares
  the machine).

int8 pays where the CPU multiplies bytes natively (AVX-512 VNNI, AVX-VNNI, AMX); on AVX2 alone
the int8 products are emulated in more instructions, which the script shows. Needs NNCF (the
``eval`` extra: ``scripts/setup.sh --eval``) and the OpenVINO backend (``make setup``).
Not part of CI (minutes on two cores); quote ``/proc/loadavg`` with its figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

import numpy as np

__all__ = ["main", "neighbour_overlap", "int8_flags"]

INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def int8_flags(cpuinfo: str) -> list[str]:
    """The native int8 instructions the CPU advertises (from /proc/cpuinfo's text)."""
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), []))
    return [flag for flag in INT8_FLAGS if flag in flags]


def neighbour_overlap(reference: np.ndarray, other: np.ndarray, k: int = 5) -> float:
    """Mean share of each row's ``k`` nearest rows (cosine, itself excluded) that both sets of vectors agree on."""
    def nearest(vectors: np.ndarray) -> np.ndarray:
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        return np.argsort(-similarity, axis=1, kind="stable")[:, :k]

    ours, theirs = nearest(reference), nearest(other)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, theirs, strict=True)]))


def _encoder(compiled: Any, tokenizer: Any, texts: list[str], batches: list[list[int]], threads: int) -> np.ndarray:
    import openvino as ov

    from kb.embed.base import mean_pool_normalized

    queue = ov.AsyncInferQueue(compiled, threads)
    hidden: dict[int, np.ndarray] = {}
    queue.set_callback(lambda request, at: hidden.__setitem__(at, request.get_output_tensor(0).data.copy()))
    masks = []
    for at, part in enumerate(batches):
        encoded = tokenizer.encode_batch([texts[i] for i in part])
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        masks.append(np.asarray([e.attention_mask for e in encoded], dtype=np.int64))
        queue.start_async({"input_ids": ids, "attention_mask": masks[at], "token_type_ids": np.zeros_like(ids)}, at)
    queue.wait_all()
    vectors = np.empty((len(texts), hidden[0].shape[-1]), dtype=np.float32)
    for at, part in enumerate(batches):
        vectors[part] = mean_pool_normalized(hidden[at], masks[at])
    return vectors


def main() -> None:
    try:
        import nncf
        import openvino as ov
    except ImportError as missing:
        sys.exit(f"this probe needs {missing.name}, which the eval extra installs: run `scripts/setup.sh --eval`")
    from eval.bench.encoders import _texts
    from kb.core.settings import Settings
    from kb.embed import bulk_encoder, make_embedder
    from kb.embed.base import PAD_TO, length_batches, model_tokenizer, resolve_model_dir
    from kb.embed.openvino_model import OpenVinoEmbedder

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    settings = Settings().with_overrides(embedding_backend="openvino")
    encoder = bulk_encoder(make_embedder(settings))
    if not isinstance(encoder, OpenVinoEmbedder):
        sys.exit(f"the OpenVINO encoder is not in use here ({type(encoder).__name__}): run `make setup`")
    encoder.warm_up()  # converts the model to OpenVINO IR on first use
    float_model = encoder.converted_model()
    tokenizer = model_tokenizer(resolve_model_dir(settings.embedding_model), pad_to_multiple_of=PAD_TO)
    chunks = _texts()[0]
    calibration, held_out = chunks[0::2], chunks[1::2]

    def feed(texts: list[str]) -> dict[str, np.ndarray]:
        encoded = tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.asarray([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.zeros_like(ids)}

    started = time.perf_counter()
    groups = [calibration[i:i + 8] for i in range(0, len(calibration), 8)]
    quantized = nncf.quantize(float_model, nncf.Dataset(groups, feed), model_type=nncf.ModelType.TRANSFORMER,
                              preset=nncf.QuantizationPreset.MIXED, subset_size=len(groups))
    print(f"NNCF {nncf.__version__}, OpenVINO {ov.__version__}: quantized on {len(calibration)} chunks in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    threads = encoder.bulk_threads
    config = {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": threads, "INFERENCE_NUM_THREADS": threads}
    core = ov.Core()
    models = {"float32": core.compile_model(float_model, "CPU", config), "int8": core.compile_model(quantized, "CPU", config)}
    batches = length_batches([len(e.ids) for e in tokenizer.encode_batch(held_out)], settings.embedding_batch_size)
    vectors = {name: _encoder(model, tokenizer, held_out, batches, threads) for name, model in models.items()}
    cosine = np.sum(vectors["float32"] * vectors["int8"], axis=1)
    print(f"{len(held_out)} held-out chunks: cosine to float32 mean {cosine.mean():.5f}, min {cosine.min():.5f}; "
          f"nearest-5 neighbours kept {neighbour_overlap(vectors['float32'], vectors['int8']):.3f}", flush=True)
    wall: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for r in range(rounds * 2):
        for name in names if r % 2 == 0 else names[::-1]:
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            _encoder(models[name], tokenizer, held_out, batches, threads)
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        native = int8_flags(info.read())
    print(f"native int8 instructions: {', '.join(native) or 'none (AVX2 emulation)'}; {threads} streams")
    print("| model | chunks/s (median wall) | CPU s (median) | x float32 (CPU) | wall passes s |\n|---|---:|---:|---:|---|")
    base = statistics.median(cpu["float32"])
    for name in models:
        print(f"| {name} | {len(held_out) / statistics.median(wall[name]):.1f} | {statistics.median(cpu[name]):.2f} | "
              f"{base / statistics.median(cpu[name]):.2f} | {' '.join(f'{x:.1f}' for x in wall[name])} |")
    print("load", open("/proc/loadavg", encoding="utf-8").read().strip(), f"pid {os.getpid()}", flush=True)


if __name__ == "__main__":
    main()
