#!/usr/bin/env bash
# Run the chapter's labs and write logs/report.md (creates ./.venv on first use).
# Extra arguments go to scripts/chapter.py (try --help, --quick for a short tour, --exercises for ISLP 10.10).
source "$(dirname "$0")/scripts/ensure_venv.sh"
exec python scripts/chapter.py "$@"
