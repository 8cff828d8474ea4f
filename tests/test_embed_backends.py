"""Encoder backend selection from the CPU flags, bf16 fidelity, and the message for a store of other vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.core.documents import Chunk
from kb.core.errors import StoreMismatchError
from kb.core.settings import Settings
from kb.embed import bulk_encoder, make_embedder
from kb.embed.openvino_model import OpenVinoEmbedder
from kb.embed.routing import SizeRouted
from kb.embed.selection import cpu_flags, pick_backend
from kb.embed.torch_model import SentenceTransformerEmbedder
from kb.index.store import Store, make_client, open_store

EPYC = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
OLD_XEON = frozenset({"avx2", "avx512f"})


def test_auto_picks_bf16_only_where_the_cpu_has_it() -> None:
    for openvino in (True, False):
        assert pick_backend("auto", EPYC, openvino=openvino) == "torch-bf16"
        assert pick_backend("auto", frozenset({"amx_bf16"}), openvino=openvino) == "torch-bf16"
    assert pick_backend("auto", OLD_XEON, openvino=False) == "torch"
    assert pick_backend("auto", frozenset(), openvino=False) == "torch"  # no /proc/cpuinfo: the safe choice


def test_auto_picks_openvino_without_native_bf16_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pick_backend("auto", OLD_XEON, openvino=True) == "openvino"
    assert pick_backend("auto", frozenset(), openvino=True) == "openvino"  # float32 either way: torch's vectors
    monkeypatch.setattr("kb.embed.openvino_model.openvino_available", lambda: False)
    assert pick_backend("auto", OLD_XEON) == "torch"
    monkeypatch.setattr("kb.embed.openvino_model.openvino_available", lambda: True)
    assert pick_backend("auto", OLD_XEON) == "openvino"


def test_a_named_backend_wins_over_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    assert pick_backend("torch", EPYC) == "torch"
    assert pick_backend("onnx-int8", EPYC) == "onnx-int8"
    assert pick_backend("torch-bf16", OLD_XEON) == "torch-bf16"
    assert "without native bf16" in caplog.text


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == frozenset({"fpu", "avx2", "avx512_bf16", "avx512_vnni"})
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_factory_builds_the_picked_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kb.embed.selection.cpu_flags", lambda: EPYC)
    embedder = bulk_encoder(make_embedder(Settings(embedding_backend="auto")))
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.precision == "bf16"
    monkeypatch.setattr("kb.embed.selection.cpu_flags", lambda: OLD_XEON)
    monkeypatch.setattr("kb.embed.openvino_model.openvino_available", lambda: False)
    embedder = bulk_encoder(make_embedder(Settings(embedding_backend="auto")))
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.precision == "fp32"
    monkeypatch.setattr("kb.embed.openvino_model.openvino_available", lambda: True)
    routed = make_embedder(Settings(embedding_backend="auto"))
    assert isinstance(routed, SizeRouted) and isinstance(routed.large, OpenVinoEmbedder)  # questions: the query encoder


def test_bf16_vectors_match_float32(real_embedder: SentenceTransformerEmbedder) -> None:
    texts = ["How should a district prepare for ransomware?", "E-Rate Category Two covers internal connections.",
             "Device refresh cycles for Chromebooks are usually four years. " * 8]
    bf16 = SentenceTransformerEmbedder(real_embedder.name, precision="bf16").embed_batch(texts)
    fp32 = real_embedder.embed_batch(texts)
    assert bf16.dtype == np.float32
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert (bf16 * fp32).sum(axis=1).min() > 0.995


@pytest.mark.parametrize(("built", "opened", "hint"), [
    ("onnx-int8", "auto", "CTO_EMBEDDING_BACKEND=onnx-int8"),
    ("torch", "onnx-int8", "CTO_EMBEDDING_BACKEND=auto"),
])
def test_store_of_other_vectors_says_which_backend_to_use(tmp_path: Path, built: str, opened: str, hint: str) -> None:
    base = Settings(data_dir=tmp_path / "data", embedding_backend=built)
    store = Store(make_client(base), base, base.embedding_identity).open()
    chunk = Chunk(id="c-0", doc_id="d", index=0, text="E-Rate covers internal connections.", title="E-Rate",
                  source="/docs/e-rate.md", source_type="markdown", page=None, section=None, date=None, areas=[])
    store.add_chunks([chunk], np.full((1, 384), 384 ** -0.5, dtype=np.float32))  # an empty store would adopt any settings
    with pytest.raises(StoreMismatchError) as caught:
        open_store(base.with_overrides(embedding_backend=opened))
    assert hint in str(caught.value) and "kb reset --yes" in str(caught.value)


def test_bf16_and_float32_share_one_index(tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path / "data", embedding_backend="torch")
    Store(make_client(base), base, base.embedding_identity).open()
    open_store(base.with_overrides(embedding_backend="torch-bf16"))  # no mismatch: compatible vectors


def test_token_counts_match_the_models_tokenizer_truncated_as_encoding_truncates(
        real_embedder: SentenceTransformerEmbedder) -> None:
    texts = ["", "E-Rate", "Naïve café résumé: the district's CIPA filter. " * 3, "ransomware tabletop " * 400]
    model = real_embedder._load()
    expected = [len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]]
    assert real_embedder.token_counts(texts) == expected
    assert expected[-1] == model.max_seq_length and expected[0] == 2  # [CLS] [SEP]
    assert real_embedder.token_counts([]) == []


def test_counting_tokens_in_one_thread_never_breaks_an_encode_in_another(
        real_embedder: SentenceTransformerEmbedder) -> None:
    """Ingest counts a parsed document's tokens while its encoder thread encodes earlier ones. Counting with the
    model's own tokenizer switched its padding off under a running encode (9 encodes in 10 failed with "Unable to
    create tensor" before each thread counted with its own copy)."""
    import threading

    texts = [" ".join(["budget"] * (3 + (i * 37) % 40)) for i in range(640)]  # ten batches of ragged lengths
    stop = threading.Event()
    failures: list[BaseException] = []

    def count() -> None:
        try:
            while not stop.is_set():
                real_embedder.token_counts(texts[:40])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        vectors = [real_embedder.embed_batch(texts) for _ in range(2)]
    finally:
        stop.set()
        counter.join()
    assert not failures
    assert all(v.shape == (640, 384) for v in vectors)
    assert np.allclose(vectors[0], vectors[1], atol=1e-5)


def test_given_token_counts_the_encoder_does_not_tokenize_again(real_embedder: SentenceTransformerEmbedder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [" ".join(["refresh"] * (2 + (i * 13) % 50)) for i in range(100)]  # more than one batch of 64
    counts = real_embedder.token_counts(texts)
    expected = real_embedder.embed_batch(texts)

    def no_counting(_texts: object) -> list[int]:
        raise AssertionError("counted again")

    monkeypatch.setattr(real_embedder, "token_counts", no_counting)
    assert np.allclose(real_embedder.embed_counted(texts, counts), expected, atol=1e-6)


def test_batches_hold_texts_of_one_padded_length_longest_first() -> None:
    from kb.embed.base import PAD_TO, length_batches

    counts = [17, 40, 32, 18, 31, 33, 256, 2, 20]
    parts = length_batches(counts, 2)
    assert parts == [[6], [1, 5], [2, 4], [8, 3], [0], [7]]  # 256 | 40, 33 | 32, 31 | 20, 18 | 17 | 2
    assert all(len({-(-counts[i] // PAD_TO) for i in part}) == 1 for part in parts)
    assert sorted(i for part in length_batches(counts, 64) for i in part) == list(range(len(counts)))


@pytest.mark.parametrize("backend", ["torch-bf16", "torch", "openvino"])
def test_a_text_s_vector_is_the_same_whatever_it_is_encoded_with(real_embedder: SentenceTransformerEmbedder,
                                                                  backend: str, tmp_path: Path) -> None:
    """Two builds of the same files batch their chunks differently (the parser's timing decides): a chunk's vector
    must not depend on its batch. In bf16 it moved by up to 0.001 with the length the batch was padded to."""
    if backend == "openvino":
        pytest.importorskip("openvino")  # the `model` extra installs it
    embedder = bulk_encoder(make_embedder(Settings(embedding_backend=backend, data_dir=tmp_path)))
    precision = backend
    text = "Keep at least one backup copy offline and test a full restore every quarter. " * 2
    longer = [f"{text} Also review the incident response plan with the superintendent, item {n}. " * 2 for n in range(30)]
    shorter = [f"Restore test {n}." for n in range(30)]
    same = [text.replace("quarter", word) for word in ("month", "term", "semester", "season", "week")]
    alone = embedder.embed_batch([text])[0]
    for others in (longer, shorter, same, longer + shorter + same):
        for at in (0, len(others) // 2):
            batch = [*others[:at], text, *others[at:]]
            assert np.array_equal(embedder.embed_batch(batch)[at], alone), (precision, len(others), at)
    counts = embedder.token_counts([text, *longer])
    assert np.array_equal(embedder.embed_counted([*longer, text], [*counts[1:], counts[0]])[-1], alone)
