"""``python -m eval run``: score the assistant on a gold set, per area and overall."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from eval import metrics as m
from eval.gold import GoldItem, load_gold
from eval.tables import TABLE_METRICS, summary_table
from kb.answering.assistant import Assistant
from kb.answering.readability import violations, weak_opening
from kb.core.console import configure_logging, friendly_errors, load_settings
from kb.core.paths import bundled
from kb.core.settings import REPO_ROOT, Settings
from kb.index.knowledge import KnowledgeBase

__all__ = ["CORPORA", "GENERATED", "corpus_folder", "eval_kb", "score_item", "summarise", "run_gold", "COMMANDS"]

CORPORA = {"library": bundled("library"), "k12docs": REPO_ROOT.parent / "shared" / "data" / "k12docs"}
GENERATED = {"formats"}  # corpora the evaluation writes itself (eval/formats.py), under the data dir
RETRIEVAL_K = 10


def eval_kb(settings: Settings, corpus: str, *, embedder: Any = None, quiet: bool = True) -> KnowledgeBase:
    """A knowledge base of one evaluation corpus, kept (and reused) under ``data_dir/eval-kb``."""
    from ingest.pipeline import run_ingest

    tag = f"{corpus}-{settings.embedding_identity.replace('/', '_')}-{settings.chunk_size}-{settings.chunk_overlap}"
    eval_settings = settings.with_overrides(data_dir=settings.data_dir / "eval-kb" / tag, chroma_host=None, audit=False)
    kb = KnowledgeBase(eval_settings, embedder=embedder)
    folder = corpus_folder(settings, corpus)
    report = run_ingest(kb, [str(folder)])
    if report.failed and not quiet:
        click.echo(f"warning: {len(report.failed)} evaluation documents failed to ingest", err=True)
    _drop_foreign(kb, folder)
    return kb


def _drop_foreign(kb: KnowledgeBase, folder: Path) -> None:
    """Remove documents ingested from another copy of the corpus (another checkout's ``library/``).

    The index is named by corpus, model and chunking, not by where the corpus lies, so a second
    checkout sharing the data directory would otherwise add a second copy of every document.
    """
    from kb.index.lock import write_lock

    root = folder.resolve()
    foreign = [d for d in kb.store.docs() if "://" not in d.source and not Path(d.source).resolve().is_relative_to(root)]
    if foreign:
        with write_lock(kb.settings, "eval"):
            for doc in foreign:
                kb.store.delete_doc(doc.doc_id)
        kb.refresh(force=True)  # the keyword side drops them too


def corpus_folder(settings: Settings, corpus: str) -> Path:
    """Where a corpus's files are: a fixed folder, or (``formats``) the files generated for it."""
    if corpus in GENERATED:
        from eval.formats import build_corpus

        return build_corpus(settings.data_dir / "eval-corpus" / corpus)
    if corpus not in CORPORA:
        raise click.UsageError(f"unknown corpus {corpus!r}; choose one of {', '.join([*CORPORA, *GENERATED])}")
    return CORPORA[corpus]


@dataclass
class ItemScore:
    item: GoldItem
    row: dict[str, Any]


def score_item(assistant: Assistant, item: GoldItem, judge: Any = None) -> dict[str, Any]:
    """Ask one gold question through the one answering path and score retrieval and answer.

    With a ``judge`` (:class:`eval.judge.Judge`), answered questions also get an LLM-judged
    ``faithfulness`` and the count of sentences the judge could not decide.
    """
    answer = assistant.ask(item.question, history=item.history)
    started = time.perf_counter()
    passages = assistant.retriever.retrieve(answer.standalone_question, k=RETRIEVAL_K, areas=answer.areas)
    retrieval_s = time.perf_counter() - started
    row: dict[str, Any] = {"id": item.id, "area": item.area, "kind": item.kind, "tags": list(item.tags),
                           "question": item.question,
                           "abstain_expected": item.abstain, "abstained": answer.abstained,
                           "evidence": round(answer.evidence, 4), "chars": len(answer.text),
                           "latency": answer.timings.get("total", 0.0), "retrieval_latency": retrieval_s,
                           "timings": answer.timings}
    if item.abstain:
        return row
    relevant = [item.is_relevant(p.chunk.source, p.chunk.page) for p in passages]
    found = [{i for i, ref in enumerate(item.refs) if ref.matches(p.chunk.source, p.chunk.page)} for p in passages]
    pairs = [(c.text, [cit.snippet for n in c.sources if (cit := answer.cited(n))]) for c in answer.claims]
    row.update({
        "hit@1": m.hit_at_k(relevant, 1), "hit@5": m.hit_at_k(relevant, 5), "hit@10": m.hit_at_k(relevant, 10),
        "recall@5": m.recall_at_k(found, len(item.refs), 5), "mrr": m.reciprocal_rank(relevant),
        "ndcg@10": m.ndcg_at_k(relevant, 10),
        "cited_right": float(any(item.is_relevant(c.source, c.page) for c in answer.citations)),
        "fact_recall": m.fact_recall(answer.text, item.key_facts) if not answer.abstained else 0.0,
        "citation_precision": m.citation_precision(pairs) if pairs else 0.0,
        "citation_recall": m.citation_recall(pairs) if pairs else 0.0,
        "answer": answer.text,  # kept in --rows so two runs' answers (their openings) can be compared
    })
    if not answer.abstained:
        problems = violations(pairs)
        row["readability"] = 0.0 if problems else 1.0
        row["readability_violations"] = problems
        opening = answer.claims[0].text if answer.claims else ""
        row["opening"] = opening
        row["weak_opening"] = weak_opening(opening, answer.standalone_question) or ""
        row["usable_lead"] = 0.0 if row["weak_opening"] else 1.0
    if judge is not None and not answer.abstained:
        verdicts = judge.judge(answer)
        if verdicts.faithfulness is not None:
            row["faithfulness"] = verdicts.faithfulness
        row["unjudged"] = verdicts.unjudged
    return row


PER_ANSWER = {"citation_precision", "citation_recall", "readability", "usable_lead"}  # judged on the answers given, not on abstentions
ANSWER_METRICS = ["hit@1", "hit@5", "hit@10", "recall@5", "mrr", "ndcg@10", "cited_right", "fact_recall",
                  "citation_precision", "citation_recall", "readability", "usable_lead"]


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means of the per-question metrics plus abstention and latency figures."""
    answerable = [r for r in rows if not r["abstain_expected"]]
    answered_rows = [r for r in answerable if not r["abstained"]]
    out = {name: m.mean([r[name] for r in (answered_rows if name in PER_ANSWER else answerable) if name in r])
           for name in ANSWER_METRICS}
    judged = [r["faithfulness"] for r in rows if "faithfulness" in r]
    if judged:  # only when an LLM judge ran (python -m eval run --judge)
        out["faithfulness"] = m.mean(judged)
        out["unjudged_sentences"] = float(sum(r.get("unjudged", 0) for r in rows))
    out.update(m.abstention_scores([r["abstain_expected"] for r in rows], [r["abstained"] for r in rows]))
    out["mean_chars"] = m.mean([r["chars"] for r in answered_rows])
    out["max_chars"] = float(max((r["chars"] for r in answered_rows), default=0))
    latencies = [r["latency"] for r in rows]
    out["latency_p50_ms"] = m.percentile(latencies, 50) * 1000
    out["latency_p95_ms"] = m.percentile(latencies, 95) * 1000
    out["questions"] = float(len(rows))
    return out


def run_gold(assistant: Assistant, items: list[GoldItem], *, progress: bool = False, judge: Any = None,
             on_item: Callable[[int, int], None] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score every item; return the rows and the summary.

    The summary holds ``overall`` and ``per_area`` over the untagged items (the main set) and
    ``slices``: one summary per tag (for example ``casual``) over the items carrying it. Slices are
    reported apart so that adding one leaves the main set's figures, and the gate, unchanged.
    ``on_item(done, total)`` is called after each question (the Evaluation page's progress).
    """
    iterator: Any = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="questions", file=sys.stderr, leave=False)
    rows = []
    for item in iterator:
        rows.append(score_item(assistant, item, judge))
        if on_item is not None:
            on_item(len(rows), len(items))
    main = [r for r in rows if not r["tags"]]
    areas = sorted({r["area"] for r in main if r["area"]})
    per_area = {a: summarise([r for r in main if r["area"] == a]) for a in areas}
    tags = sorted({t for r in rows for t in r["tags"]})
    slices = {t: summarise([r for r in rows if t in r["tags"]]) for t in tags}
    return rows, {"overall": summarise(main) if main else {}, "per_area": per_area, "slices": slices}


@click.command("run")
@click.option("--gold", default="library", show_default=True, help="Gold set: library, k12docs, formats, or a YAML path.")
@click.option("--corpus", help="Corpus to answer from (default: the gold set's own: library, k12docs or formats).")
@click.option("--slice", "slice_tag", help="Answer only the items of this slice (a gold-set tag such as casual).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--rows", "rows_out", type=click.Path(dir_okay=False, path_type=Path), help="Write per-question rows (JSON lines).")
@click.option("--gate", is_flag=True, help="Exit 1 when a metric falls below eval/thresholds.yaml.")
@click.option("--judge", is_flag=True, help="Also score faithfulness with the configured LLM (CTO_LLM_BACKEND) as judge.")
@click.option("--progress-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Record the run's progress (questions done of total) as JSON in this file (the Evaluation page's runs).")
@friendly_errors
def run(gold: str, corpus: str | None, slice_tag: str | None, as_json: bool, rows_out: Path | None, gate: bool,
        judge: bool, progress_file: Path | None) -> None:
    """Answer every gold question and report retrieval, answer, citation and abstention metrics.

    \b
    Examples:
      python -m eval run
      python -m eval run --gold k12docs --rows /tmp/rows.jsonl
      python -m eval run --gold k12docs --slice casual
      python -m eval run --gate
      CTO_LLM_BACKEND=ollama python -m eval run --judge
    """
    from eval.background import progress_to

    configure_logging("WARNING")
    with progress_to(progress_file) as update:
        _run(gold, corpus=corpus, slice_tag=slice_tag, as_json=as_json, rows_out=rows_out, gate=gate, judge=judge,
             update=update)


def _run(gold: str, *, corpus: str | None, slice_tag: str | None, as_json: bool, rows_out: Path | None, gate: bool,
         judge: bool, update: Callable[..., None]) -> None:
    from eval.reports import write_report

    settings = load_settings()
    judge_model = None
    if judge:
        from eval.judge import Judge

        try:
            judge_model = Judge(settings)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
    items = load_gold(gold)
    if slice_tag:
        items = [item for item in items if slice_tag in item.tags]
        if not items:
            raise click.UsageError(f"the gold set {gold!r} has no items tagged {slice_tag!r}; try --slice casual")
        if gate:
            raise click.UsageError("--gate checks the whole gold set: drop --slice")
    corpus = corpus or (gold if gold in {"k12docs", *GENERATED} else "library")
    update(stage=f"indexing the {corpus} corpus", total=len(items))
    kb = eval_kb(settings, corpus, quiet=False)
    assistant = Assistant(kb.settings, kb=kb, journal=None)
    update(stage="answering the gold questions")
    rows, summary = run_gold(assistant, items, progress=sys.stderr.isatty(), judge=judge_model,
                             on_item=lambda done, total: update(done=done, total=total))
    summary.update({"gold": gold, "corpus": corpus, "config": _config(kb.settings)})
    update(stage="writing the report")
    folder = write_report(settings.reports_dir / "eval", summary, rows)
    if rows_out:
        rows_out.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        click.echo(f"gold set {gold} ({len(items)} questions) over {corpus}; report in {folder}")
        click.echo(summary_table(summary, TABLE_METRICS + (["faithfulness"] if "faithfulness" in summary["overall"] else [])))
    if gate:
        from eval.regression_gate import check

        failures = check(summary["overall"], gold)
        for failure in failures:
            click.echo(f"GATE FAILED: {failure}", err=True)
        sys.exit(1 if failures else 0)


def _config(settings: Settings) -> dict[str, Any]:
    keys = ["embedding_model", "chunk_size", "chunk_overlap", "top_k", "fetch_k", "fusion", "rrf_k", "dense_weight",
            "mmr", "mmr_lambda", "area_boost", "min_relevance", "max_answer_chars", "llm_backend"]
    return {k: getattr(settings, k) for k in keys}


COMMANDS = [run]
