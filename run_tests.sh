#!/usr/bin/env bash
# Run the test suite (creates ./.venv on first use). Extra arguments go to pytest.
source "$(dirname "$0")/scripts/ensure_venv.sh"
# pytest exits 5 when it collects no tests: that is a failure here, not a pass
exec python -m pytest -q "$@"
