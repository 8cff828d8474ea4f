#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv, saying at each step what it
# installs and roughly how big it is.
#
# Usage: scripts/setup.sh [--eval] [--test] [--cuda]
#   (no flag)  the app: CPU torch, the package with its `model` extra, Debian's tesseract-ocr
#   --eval     also the `eval` extra (benchmarks, BEIR, refitting the abstention model)
#   --test     also the `onnx`, `eval` and `test` extras and Debian's chromium (the whole test suite)
#   --cuda     let pip pick any torch build, CUDA included (several GB); without it only a CPU build
# Variables: PYTHON=/path/to/python3.X picks the interpreter; CTO_TORCH_INDEX_URL names a CPU wheel
# index (a district mirror) to use instead of PyTorch's when no CPU torch lies on this machine.
# The choices are made by scripts/setup_plan.py (tests/test_setup_plan.py tests them).
set -euo pipefail
cd "$(dirname "$0")/.."
want_eval=0; want_test=0; cuda=0
for arg in "$@"; do
  case "$arg" in
    --eval) want_eval=1 ;;
    --test) want_test=1; want_eval=1 ;;
    --cuda) cuda=1 ;;
    *) echo "setup: unknown option $arg (use --eval, --test, --cuda)" >&2; exit 2 ;;
  esac
done
extras=model
[ $want_eval = 1 ] && extras="$extras,eval"
[ $want_test = 1 ] && extras="$extras,onnx,test"
# The stamp names what this pyproject.toml was installed with; it lists the extras installed.
stamp=.venv/.setup-$( (cat pyproject.toml setup.py; echo "$cuda") | sha256sum | cut -c1-16)
installed=$(cat "$stamp" 2>/dev/null || true)
up_to_date=1
for extra in ${extras//,/ }; do
  case ",$installed," in *",$extra,"*) ;; *) up_to_date=0 ;; esac
done
if [ -n "$installed" ] && [ $up_to_date = 0 ]; then  # keep what is there
  extras=$(echo "$installed,$extras" | tr , "\n" | awk '!seen[$0]++' | paste -sd, -)
fi
started=$SECONDS

say() { echo "setup: $*" >&2; }
venv_mb() { du -sm .venv 2>/dev/null | cut -f1; }
done_step() { say "  done in $((SECONDS - step_started)) s; .venv is now $(venv_mb) MB"; }
# pip's own progress, without the lines that say nothing was done
pip_shown() {
  set +e
  .venv/bin/python -m pip "$@" --disable-pip-version-check 2>&1 \
    | grep --line-buffered -v -E "^(Requirement already satisfied|WARNING: Location '.*' is ignored)" >&2
  local codes=("${PIPESTATUS[@]}")
  set -e
  return "${codes[0]}"
}

find_venv_python() {
  if [ -x .venv/bin/python ]; then
    if .venv/bin/python -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' 2>/dev/null; then
      say "using the existing .venv ($(.venv/bin/python -c 'import sys; print("Python", sys.version.split()[0])'))"
      return
    fi
    say ".venv holds an unsupported Python ($(.venv/bin/python --version 2>&1 || echo broken)): remove it (rm -rf .venv) and run setup again"
    exit 1
  fi
  local plan_python="" candidate plan
  for candidate in python3 python3.13 python3.12 python3.11 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
      plan_python=$candidate; break
    fi
  done
  [ -n "$plan_python" ] || { say "no python3 found: install Python 3.11, 3.12 or 3.13 (apt-get install python3 python3-venv)"; exit 1; }
  plan=$("$plan_python" scripts/setup_plan.py python) || exit 1
  local CHOSEN_PYTHON; eval "$plan"
  step_started=$SECONDS
  say "[1/4] virtual environment .venv with $CHOSEN_PYTHON, then an up-to-date pip (about 20 MB)"
  "$CHOSEN_PYTHON" -m venv .venv
  pip_shown install --quiet --upgrade pip || say "  could not upgrade pip; going on with $(.venv/bin/python -m pip --version | cut -d' ' -f1-2)"
  done_step
}

torch_state() {  # prints "ok" when the installed torch is the pinned release and (unless --cuda) a CPU build
  .venv/bin/python - "$cuda" <<'EOF'
import sys
from importlib import metadata
sys.path.insert(0, "scripts")
from setup_plan import is_cpu_build, torch_pin
try:
    dist = metadata.distribution("torch")
except metadata.PackageNotFoundError:
    print("missing"); sys.exit()
version = dist.version
if version.split("+")[0] != torch_pin():
    print(f"torch {version} (not {torch_pin()})")
elif sys.argv[1] != "1" and not is_cpu_build(version, dist.requires or []):
    print(f"a CUDA build, torch {version}")
else:
    print("ok")
EOF
}

install_torch() {
  local state; state=$(torch_state)
  if [ "$state" = ok ]; then say "[2/4] torch: already installed ($(.venv/bin/python -c 'from importlib.metadata import version; print(version("torch"))'))"; return; fi
  local TORCH_ARGS TORCH_SOURCE TORCH_SIZE plan cuda_flag=""
  [ $cuda = 1 ] && cuda_flag=--cuda
  plan=$(.venv/bin/python scripts/setup_plan.py torch $cuda_flag) || exit 1
  eval "$plan"
  step_started=$SECONDS
  say "[2/4] torch (now: $state) from $TORCH_SOURCE: $TORCH_SIZE"
  # shellcheck disable=SC2086  # TORCH_ARGS is a list of pip arguments
  pip_shown install $TORCH_ARGS || {
    say "could not install torch from $TORCH_SOURCE. Set CTO_TORCH_INDEX_URL to a CPU wheel index you can reach"
    say "(a district mirror of the CPU index), or put the CPU wheel in a folder pip reads (find-links), then run setup again"
    exit 1
  }
  state=$(torch_state)
  if [ "$state" != ok ]; then
    say "the installed torch is $state: run setup again with --cuda to keep it, or uninstall it (.venv/bin/pip uninstall torch)"
    exit 1
  fi
  done_step
}

install_package() {
  step_started=$SECONDS
  local size="about 1.4 GB"
  [ $want_eval = 1 ] && size="about 1.7 GB"
  [ $want_test = 1 ] && size="about 1.9 GB"
  say "[3/4] CTO Assistant (editable) with the extras $extras and the libraries they need: $size installed"
  pip_shown install -e ".[$extras]"
  done_step
}

install_debian() {  # $1: command to look for, $2: what it is for, rest: packages
  local command=$1 purpose=$2; shift 2
  command -v "$command" >/dev/null && return
  if [ "$(id -u)" = 0 ]; then
    say "[4/4] Debian packages $* ($purpose)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null) \
      || say "could not install $*: $purpose will not work"
  else
    say "$command is missing; run 'sudo apt-get install $*' for $purpose"
  fi
}

if [ $up_to_date = 0 ]; then
  find_venv_python
  install_torch
  install_package
  rm -f .venv/.setup-*; echo "$extras" > "$stamp"
  say "ready in $((SECONDS - started)) s: $(.venv/bin/python --version), extras $extras, .venv $(venv_mb) MB"
fi
if [ $want_test = 1 ] && [ ! -x /usr/bin/chromium ]; then
  install_debian chromium "the browser tests (about 300 MB)" chromium
fi
install_debian tesseract "reading scanned PDF pages (OCR; about 30 MB)" tesseract-ocr tesseract-ocr-eng
