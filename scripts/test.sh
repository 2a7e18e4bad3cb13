#!/usr/bin/env bash
# The whole test command: setup, typecheck, type-aware lint, unit tests, and
# integration tests against the real local cluster, Prometheus and git server.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh
echo "== typecheck"; tsc -p tsconfig.json
echo "== lint"; eslint --max-warnings 0 .
echo "== unit tests"; bash scripts/run-tests.sh unit
echo "== integration tests"; bash scripts/run-tests.sh integration
