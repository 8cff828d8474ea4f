"""Property-based fuzzing of every way in (issue #16): dates, front matter, options, file names, backup edits.

Invariants, for every generated input:
- the command exits 0, 1 or 2 (2: usage), never with a traceback; a refusal is one ``error:`` line;
- when the input is refused, the store is exactly as it was;
- afterwards every question still answers (``kb ask`` and ``kb docs --health`` exit 0).

Profiles (Hypothesis): ``short`` runs in the normal test run (well under a minute here);
``long`` is for ``make fuzz`` (``--hypothesis-profile=long``); ``--hypothesis-show-statistics``
prints the cases generated and the classes (``event``) covered. The store is shared by the
examples of one test on purpose: each example starts from what the last one left.
"""

from __future__ import annotations

import gzip
import json
import os
import string
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from ingest.cli import main as ingest_main
from kb.cli import main as kb_main
from kb.core import metadata
from kb.core.metadata import MetadataError
from kb.core.settings import Settings
from kb.index.backup import export_backup
from kb.index.knowledge import KnowledgeBase
from tests.helpers import write
from tests.safety_support import CORPUS, QUESTIONS, Run, run_cli

pytestmark = pytest.mark.fuzz

_SHARED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]  # no "explain": it reruns a slow failure 100 times
settings.register_profile("short", max_examples=6, deadline=None, suppress_health_check=_SHARED, derandomize=True,
                          phases=_PHASES)
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "400")), deadline=None,
                          suppress_health_check=_SHARED, phases=_PHASES)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "short"))
PURE = max(200, settings.default.max_examples)  # pure-function properties are cheap: more cases in every profile


@pytest.fixture(autouse=True)
def _hash_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    for name, text in CORPUS.items():
        write(folder / name, text)
    run = run_cli(ingest_main, str(folder))
    assert run.code == 0, run.out + run.err
    return folder


def _state() -> tuple[dict[str, tuple[str, int, str]], int]:
    kb = KnowledgeBase(Settings())
    return {d.doc_id: (d.status, d.chunk_count, d.content_hash) for d in kb.store.docs()}, kb.store.count()


def _well_behaved(run: Run, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    """Exit 0, 1 or 2, no traceback; a refusal is one ``error:`` line, or (ingest) the report's ``failed`` lines."""
    assert run.code in allowed, (run.code, run.out[-1500:], run.err[-1500:])
    assert "Traceback" not in run.out + run.err, run.err[-3000:]
    errors = [line for line in run.err.splitlines() if line.lower().startswith("error:")]
    reported = [line for line in run.out.splitlines() if line.startswith("  failed  ")]
    if run.code == 0:
        assert not errors and not reported, run.out + run.err
    else:
        assert len(errors) == 1 or (not errors and reported and run.code == 1), run.out + run.err
    event(f"exit={run.code}")


def _still_answers() -> None:
    for question in QUESTIONS:
        run = run_cli(kb_main, "ask", question, "--json")
        assert run.code == 0, run.err
        json.loads(run.out)
    assert run_cli(kb_main, "docs", "--health").code == 0


# ----- dates: the one parser --------------------------------------------------------------------------------------
_DATE_CHARS = string.digits + "-/ .:TZ+" + "abcMy"
dates_as_text = st.one_of(
    st.text(alphabet=_DATE_CHARS, max_size=24),
    st.builds(lambda y, m, d, sep: f"{y}{sep}{m}{sep}{d}", st.integers(-99, 99999), st.integers(-3, 40),
              st.integers(-3, 40), st.sampled_from(["-", "/", ".", " "])),
    st.builds(lambda y, m: f"{y}-{m}", st.integers(0, 9999), st.integers(0, 13)),
    st.integers(-10, 99999).map(str),
    st.dates().map(lambda d: d.isoformat() + st_suffix(d)),
    st.dates(min_value=date(1790, 1, 1), max_value=date(2210, 12, 31)).map(
        lambda d: [f"{d.year}/{d.month}/{d.day}", f"{d.year}-{d.month}", f"{d.year}", f"{d.year}-{d.month}-{d.day}",
                   f"{d.month}/{d.day}/{d.year}"][d.toordinal() % 5]),
)


def st_suffix(day: date) -> str:
    return ["", "T00:00:00", "T09:30:00Z", "T23:59:59+02:00"][day.toordinal() % 4]


@settings(max_examples=PURE)
@given(value=st.one_of(dates_as_text, st.dates(), st.integers(), st.none(), st.lists(st.integers(), max_size=2)))
def test_every_date_is_read_as_one_iso_day_or_refused_in_one_line(value: Any) -> None:
    try:
        day, note = metadata.read_date(value, field="date")
    except MetadataError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("date: ") and "YYYY-MM-DD" in message
        event("refused")
        return
    assert metadata.parse_date(day.isoformat()) == day  # what is stored reads back the same
    assert metadata.YEARS[0] <= day.year <= metadata.YEARS[1]
    event("read with a note" if note else "read")


# ----- front matter --------------------------------------------------------------------------------------------
_scalars = st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                     st.none(), dates_as_text, st.sampled_from(["federal", "STATE", "district_policy", "Illinois", "il",
                                                                "cybersecurity", "budgets-funding", "2024", "2023-02-30"]))
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3), st.dictionaries(st.text(max_size=5), _scalars, max_size=2))
_fields = st.sampled_from(["title", "date", "published", "reviewed", "expires", "authority", "jurisdiction", "areas",
                           "summary", "superseded_by", "notes", "source_url", "audience", "x"])
front_matter = st.one_of(
    st.dictionaries(_fields, _values, max_size=6).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(alphabet=string.printable + "é—", max_size=80),  # not YAML at all, or YAML of the wrong shape
)


@given(front=front_matter, crlf=st.booleans())
def test_any_front_matter_is_read_or_reported_and_never_breaks_a_question(library: Path, front: str, crlf: bool) -> None:
    text = f"---\n{front}---\n# Fuzzed\n\nText about switches, access points and the E-Rate budget cycle.\n"
    doc = library.parent / "fuzzed.md"
    doc.write_bytes((text.replace("\n", "\r\n") if crlf else text).encode("utf-8", "surrogatepass"))
    before = _state()
    run = run_cli(ingest_main, str(doc))
    _well_behaved(run, (0, 1))
    if run.code == 1:  # the file failed: what was stored (its previous version, if any) is untouched
        assert _state() == before
        event("file refused: " + run.out.split("failed", 1)[-1].split(":", 2)[-1].strip().split(" ")[0])
    else:
        event("warned" if "warning" in run.out else "clean")
    _still_answers()


# ----- options -----------------------------------------------------------------------------------------------------
_option_text = st.one_of(st.text(max_size=20), dates_as_text, st.sampled_from(
    ["federal", "State", "peer-district", "blog", "national", "TX", "Ontario", "", " ", "2024-1-5", "-1", "--x"]))


@given(published=st.none() | _option_text, authority=st.none() | _option_text, jurisdiction=st.none() | _option_text,
       expires=st.none() | _option_text, area=st.lists(st.sampled_from(["cybersecurity", "Budgets-Funding", "nope", ""]),
                                                       max_size=2))
def test_any_ingest_options_are_used_or_refused_with_the_store_unchanged(
        library: Path, published: str | None, authority: str | None, jurisdiction: str | None, expires: str | None,
        area: list[str]) -> None:
    args = [str(library / "erate.md")]
    for name, value in (("--published", published), ("--authority", authority), ("--jurisdiction", jurisdiction),
                        ("--expires", expires)):
        if value is not None:
            args += [name, value]
    for one in area:
        args += ["--area", one]
    before = _state()
    run = run_cli(ingest_main, *args)
    _well_behaved(run, (0, 2))
    if run.code == 2:
        assert _state() == before
    _still_answers()


@settings(max_examples=40)
@given(date_from=st.none() | _option_text, date_to=st.none() | _option_text, authority=st.none() | _option_text,
       k=st.none() | st.integers(-2, 60), question=st.text(max_size=40))
def test_any_ask_options_answer_or_are_refused_in_one_line(library: Path, date_from: str | None, date_to: str | None,
                                                           authority: str | None, k: int | None, question: str) -> None:
    args = ["ask", question or "x", "--json"]
    for name, value in (("--from", date_from), ("--to", date_to), ("--authority", authority)):
        if value is not None:
            args += [name, value]
    if k is not None:
        args += ["--k", str(k)]
    before = _state()
    run = run_cli(kb_main, *args)
    _well_behaved(run, (0, 2))
    assert _state() == before
    if run.code == 0:
        event("abstained" if json.loads(run.out)["abstained"] else "answered")


# ----- file names --------------------------------------------------------------------------------------------------
_name_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\x00")


@given(stem=st.text(alphabet=_name_chars, min_size=1, max_size=30), suffix=st.sampled_from([".md", ".txt", ".MD", ".markdown", "", ".pdf"]))
def test_any_file_name_is_ingested_and_removed_by_its_path(library: Path, stem: str, suffix: str) -> None:
    name = (stem + suffix)[:200]
    if name in {".", ".."} or len(name.encode("utf-8")) > 240:
        return
    folder = library.parent / "named"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("# Named\n\nA note about phishing drills for staff, with a quarterly schedule.\n", encoding="utf-8")
    before = _state()
    run = run_cli(ingest_main, str(path))
    _well_behaved(run, (0, 1))
    if run.code == 0 and _state() != before:
        removed = run_cli(kb_main, "remove", str(path))
        _well_behaved(removed, (0,))
        assert _state()[0] == before[0]
        event("ingested and removed")
    else:
        assert _state() == before
        event("refused: " + (run.out.split(": ", 2)[-1][:40] if run.code else "unchanged"))
    path.unlink()
    _still_answers()


# ----- backup edits --------------------------------------------------------------------------------------------------
def _edited(original: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    rows = json.loads(json.dumps(original))
    line = data.draw(st.integers(0, len(rows) - 1), label="line")
    kind = data.draw(st.sampled_from(["drop", "duplicate", "field", "meta", "record"]), label="edit")
    event(f"edit={kind}")
    if kind == "drop":
        del rows[line]
    elif kind == "duplicate":
        rows.insert(line, rows[line])
    else:
        target = rows[line]
        if kind == "meta" and target.get("type") == "chunk":
            target = target["meta"]
        elif kind == "record" and target.get("type") == "doc":
            target = target["record"]
        key = data.draw(st.sampled_from(sorted(target) + ["date", "expires", "authority", "meta", "areas"]), label="key")
        target[key] = data.draw(st.one_of(_scalars, st.lists(_scalars, max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                                   _scalars, max_size=2)),
                                label="value")
    return rows


def _write_backup(rows: list[dict[str, Any]], path: Path, fix_checksum: bool) -> None:
    import hashlib

    body = [(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n").encode() for r in rows if r.get("type") != "end"]
    ends = [r for r in rows if r.get("type") == "end"]
    end = dict(ends[-1]) if ends else {"type": "end"}
    if fix_checksum:
        end["sha256"] = hashlib.sha256(b"".join(body)).hexdigest()
    with gzip.open(path, "wb") as handle:
        handle.writelines(body + [(json.dumps(end) + "\n").encode()])


@given(data=st.data(), fix_checksum=st.booleans())
def test_any_edit_of_a_backup_is_imported_whole_or_refused_with_the_store_unchanged(library: Path, data: Any,
                                                                                   fix_checksum: bool) -> None:
    original = library.parent / "original.jsonl.gz"
    if not original.exists():
        export_backup(KnowledgeBase(Settings()), original)
    with gzip.open(original, "rb") as handle:
        rows = [json.loads(line) for line in handle]
    edited = library.parent / "edited.jsonl.gz"
    _write_backup(_edited(rows, data), edited, fix_checksum)
    before = _state()
    run = run_cli(kb_main, "import", str(edited), "--replace", "--yes")
    _well_behaved(run)
    if run.code != 0:
        assert _state() == before
    else:
        event("edit accepted")
        _still_answers()
        assert run_cli(kb_main, "import", str(original), "--replace", "--yes").code == 0  # back to the library
    _still_answers()
