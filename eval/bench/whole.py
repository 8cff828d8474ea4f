"""Whole-process ingest of a folder: our ``ingest`` command against a plain LangChain pipeline, A-B-B-A.

Both run as fresh processes from the command line, the way a user meets them, so the
time includes interpreter start, imports, loading the model, parsing, chunking,
encoding, writing and (ours) the keyword index. The LangChain side is the tutorial
pipeline: pypdf pages and plain text files, ``RecursiveCharacterTextSplitter`` (1000/150),
``HuggingFaceEmbeddings`` on the same model folder, ``langchain_chroma.Chroma``.
Run it alone with ``python -m eval.bench.whole langchain DOCS FOLDER``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["whole_process", "langchain_ingest"]

_TEXT = {".md", ".txt", ".markdown"}


def _load(path: Path) -> list[Any]:
    """LangChain Documents for one file: a PDF's pages, an HTML file's text, a text file as it is."""
    from langchain_core.documents import Document

    if path.suffix.lower() == ".pdf":
        from pypdf import PdfReader

        return [Document(page_content=page.extract_text() or "", metadata={"source": str(path), "page": n})
                for n, page in enumerate(PdfReader(str(path)).pages)]
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in {".html", ".htm"}:
        from bs4 import BeautifulSoup

        text = BeautifulSoup(text, "html.parser").get_text("\n")
    return [Document(page_content=text, metadata={"source": str(path)})]


def langchain_ingest(docs: Path, folder: Path, model_dir: str) -> int:
    """The plain LangChain pipeline over every PDF, HTML and text file in ``docs``; returns the chunks stored."""
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    pages = [d for f in sorted(docs.rglob("*")) if f.is_file() and f.suffix.lower() in _TEXT | {".pdf", ".html", ".htm"}
             for d in _load(f)]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=150).split_documents(pages)
    embeddings = HuggingFaceEmbeddings(model_name=model_dir, model_kwargs={"device": "cpu", "local_files_only": True},
                                       encode_kwargs={"normalize_embeddings": True})
    Chroma.from_documents(chunks, embeddings, persist_directory=str(folder), collection_name="langchain",
                          client_settings=ChromaSettings(anonymized_telemetry=False))
    return len(chunks)


def _children_cpu() -> float:
    """User + system seconds of the finished child processes so far (and theirs: the parser worker, Tesseract)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command run to its end."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if done.returncode != 0:  # a file that failed (exit 1) makes the comparison unfair: the report names it
        failed = [line for line in (done.stdout + done.stderr).splitlines() if "status=failed" in line or "failed" in line[:80]]
        raise RuntimeError(f"{' '.join(command[:4])} exited {done.returncode}: {' | '.join(failed[-5:]) or done.stderr.strip()[-600:]}")
    return seconds, cpu


def whole_process(docs: Path, folder: Path, *, model_dir: str, env: dict[str, str]) -> dict[str, Any]:
    """Ours, LangChain, LangChain, ours (fresh stores each time); wall and CPU seconds per run, speed-ups over the sums.

    CPU time (user + system of the process and its children) depends far less on what else
    the machine runs than wall time does; the 1-minute load average is noted before each run.
    """
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "langchain": []}
    loads: list[float] = []
    for n, side in enumerate(("ours", "langchain", "langchain", "ours")):
        target = folder / f"{side}-{n}"
        shutil.rmtree(target, ignore_errors=True)
        loads.append(round(os.getloadavg()[0], 2))
        if side == "ours":  # every file must be in (_timed raises otherwise): a skipped file would flatter ours
            command, run_env = [sys.executable, "-m", "ingest", str(docs)], {**env, "CTO_DATA_DIR": str(target)}
        else:
            command, run_env = [sys.executable, "-m", "eval.bench.whole", "langchain", str(docs), str(target), model_dir], env
        runs[side].append(_timed(command, run_env))
        shutil.rmtree(target, ignore_errors=True)
    ours, theirs = runs["ours"], runs["langchain"]
    return {"docs": str(docs), "files": sum(1 for f in docs.rglob("*") if f.is_file()),
            "ours_runs_s": [round(w, 2) for w, _ in ours], "langchain_runs_s": [round(w, 2) for w, _ in theirs],
            "ours_cpu_s": [round(c, 2) for _, c in ours], "langchain_cpu_s": [round(c, 2) for _, c in theirs],
            "speedup": round(sum(w for w, _ in theirs) / sum(w for w, _ in ours), 3),
            "cpu_speedup": round(sum(c for _, c in theirs) / max(sum(c for _, c in ours), 1e-9), 3),
            "load_avg_1m_before_runs": loads, "load_avg_1m": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":  # python -m eval.bench.whole langchain DOCS FOLDER [MODEL_DIR]
    if len(sys.argv) < 4 or sys.argv[1] != "langchain":
        sys.exit("usage: python -m eval.bench.whole langchain DOCS FOLDER [MODEL_DIR]")
    from kb.core.settings import Settings
    from kb.embed.base import resolve_model_dir

    model = sys.argv[4] if len(sys.argv) > 4 else str(resolve_model_dir(Settings().embedding_model))
    print(langchain_ingest(Path(sys.argv[2]), Path(sys.argv[3]), model))
