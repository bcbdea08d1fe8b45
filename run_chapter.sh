#!/usr/bin/env bash
# Run the chapter's labs and write logs/report.md (creates ./.venv on first use).
# Extra arguments go to scripts/chapter.py (try --help, or --quick for a short tour).
source "$(dirname "$0")/scripts/ensure_venv.sh"
exec python scripts/chapter.py "$@"
