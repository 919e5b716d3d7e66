#!/usr/bin/env bash
# Set-up on a fresh machine, once: a virtual environment (.venv, or $RAVEJOBS_VENV) with the CPU
# torch pin installed first, so nothing pulls a CUDA build, then ravejobs (editable) and its test
# tools. Run again, it returns at once unless pyproject.toml changed. Needs Python >= 3.11.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${RAVEJOBS_VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.ravejobs-setup"
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    exit 0
fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    { echo "setup: ravejobs needs Python 3.11 or newer; $PY is $("$PY" -V 2>&1)" >&2; exit 1; }
echo "setup: virtual environment in $VENV (first time only)"
# --system-site-packages: a machine that has torch and friends already reuses them (no download)
[ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -e '.[test]'
"$VENV/bin/python" -c 'import torch; print(f"setup: torch {torch.__version__}, ravejobs installed")'
echo "$want" >"$stamp"
