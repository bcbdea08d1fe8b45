#!/usr/bin/env bash
# Run the test suite (creates ./.venv on first use). Extra arguments go to pytest.
source "$(dirname "$0")/scripts/ensure_venv.sh"
# pytest exits 5 when it collects no tests: that is a failure here, not a pass.
# One worker process per core, four at most (pytest-xdist; a container may show more cores than it may use, and
# many tests start processes of their own); -n 0 runs them in one process.
WORKERS="$(nproc)"
[ "$WORKERS" -le 4 ] || WORKERS=4
exec python -m pytest -q -n "$WORKERS" --dist worksteal "$@"
