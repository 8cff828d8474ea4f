#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv.
# torch is installed first and pinned to 2.13.0, the CPU build on this machine's disk,
# so that nothing later can make pip fetch a multi-GB CUDA build.
# Usage: scripts/setup.sh [--test]   (--test also installs test tools and Debian's chromium)
# Debian's tesseract-ocr (OCR of scanned PDF pages) is installed in both modes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
want_test=0; [ "${1:-}" = "--test" ] && want_test=1
stamp=.venv/.setup-$( (cat pyproject.toml; echo "$want_test") | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
  .venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
  if [ $want_test = 1 ]; then extra=".[test]"; else extra="."; fi
  .venv/bin/pip install --quiet --disable-pip-version-check -e "$extra"
  rm -f .venv/.setup-*; touch "$stamp"
fi
if [ $want_test = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; browser tests will be skipped" >&2
  else
    echo "setup: /usr/bin/chromium is missing; run 'sudo apt-get install chromium' for the browser tests" >&2
  fi
fi
if ! command -v tesseract >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null) \
      || echo "setup: could not install tesseract-ocr; scanned PDF pages will not be read (OCR tests are skipped)" >&2
  else
    echo "setup: tesseract is missing; run 'sudo apt-get install tesseract-ocr tesseract-ocr-eng' to read scanned PDFs" >&2
  fi
fi
