#!/usr/bin/env bash
# Run the test suite (creates ./.venv on first use). Extra arguments go to pytest.
source "$(dirname "$0")/scripts/ensure_venv.sh"
# pytest exits 5 when it collects no tests: that is a failure here, not a pass.
# One worker process per core (pytest-xdist; most tests wait on subprocesses and signals); -n 0 runs in one process.
exec python -m pytest -q -n auto --dist worksteal "$@"
