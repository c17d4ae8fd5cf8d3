#!/usr/bin/env bash
# Set up lprd in ./.venv on a fresh machine: the pinned torch stack, the analysis
# packages, and the packages that must be installed without their dependencies.
#   ./install.sh          runtime only
#   ./install.sh --dev    plus the test tools (pytest, hypothesis, ruff)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
extras="ml,audio,visual,text"
[[ "${1:-}" == "--dev" ]] && extras="$extras,dev"

[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip wheel
.venv/bin/python -m pip install -q -e ".[${extras}]"
# These declare dependencies that would pull a second torch or numpy<2; what they
# really need is already installed above.
.venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
.venv/bin/python -c "import daemon, storage, migrations; print('lprd installed in .venv')"
