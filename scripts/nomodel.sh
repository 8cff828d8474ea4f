#!/usr/bin/env bash
# The no-model suite on other Pythons (`make test-nomodel`, CI after the 3.11 suite).
#
# Usage: scripts/nomodel.sh 3.12 3.13
# For each version: a virtual environment .venv-nomodel-3.X holding the package (editable) with its
# `test` extra and no torch-dependent extra, checked to hold no torch, then
#   pytest -m "not model and not slow and not browser"
# (the tests that need no model: the hash embedder serves them). A version with no interpreter on
# this machine (python3.X on PATH, pyenv's versions, /usr/bin, /usr/local/bin) is SKIPPED, said in
# the summary; CTO_REQUIRE_PYTHONS=1 makes a missing one a failure instead.
set -uo pipefail
cd "$(dirname "$0")/.."
SELECTION="not model and not slow and not browser"
status=0
summary=()

say() { echo "nomodel: $*" >&2; }

find_python() {  # $1: a version like 3.12; prints a working interpreter of it
  local candidate
  for candidate in "python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1" /usr/bin/python"$1" \
                   /usr/local/bin/python"$1"; do
    if "$candidate" -c "import sys, venv; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$1')" 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

prepare() {  # $1: version, $2: interpreter; makes .venv-nomodel-$1 hold `.[test]` for this pyproject.toml
  local venv=".venv-nomodel-$1" stamp
  stamp="$venv/.setup-$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  say "Python $1 ($2): creating $venv with the package and its test extra, no torch (about 1.2 GB, most of it downloaded)"
  rm -rf "$venv"
  "$2" -m venv "$venv" || return 1
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip || return 1
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off -e ".[test]" || return 1
  touch "$stamp"
}

for version in "$@"; do
  if ! python=$(find_python "$version"); then
    say "SKIPPED Python $version: no interpreter found (python$version on PATH, pyenv, /usr/bin, /usr/local/bin)."
    say "  Install it (pyenv install $version, or apt-get install python$version python$version-venv) to run this part."
    summary+=("Python $version: SKIPPED (no interpreter)")
    [ "${CTO_REQUIRE_PYTHONS:-0}" = 1 ] && status=1
    continue
  fi
  started=$SECONDS
  if ! prepare "$version" "$python"; then
    say "Python $version: could not install the package and its test extra (see pip's message above)"
    summary+=("Python $version: FAILED to install"); status=1; continue
  fi
  installed=$((SECONDS - started))
  venv=".venv-nomodel-$version"
  if "$venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
    say "Python $version: torch is installed in $venv, but this suite must run without it: a core or test dependency pulls it in"
    summary+=("Python $version: FAILED (torch installed)"); status=1; continue
  fi
  say "Python $version: $("$venv/bin/python" --version), installed in ${installed} s; running pytest -m \"$SELECTION\""
  started=$SECONDS
  "$venv/bin/python" -m pytest -m "$SELECTION" -q -p no:cacheprovider
  code=$?
  tested=$((SECONDS - started))
  if [ $code = 0 ]; then
    summary+=("Python $version: passed (install ${installed} s, tests ${tested} s)")
  else
    summary+=("Python $version: FAILED, pytest exit $code (install ${installed} s, tests ${tested} s)"); status=1
  fi
done
say "summary:"
for line in "${summary[@]}"; do say "  $line"; done
exit $status
