#!/usr/bin/env bash
# Runs one group of tests with node's own runner. Files are listed explicitly,
# and an empty list is an error, so a run can never silently test nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh

group="${1:?usage: run-tests.sh unit|integration [files...]}"
shift
files=("$@")
case "$group" in
  unit)
    [ ${#files[@]} -gt 0 ] || mapfile -t files < <(find src -name '*.test.ts' | sort)
    extra=()
    ;;
  integration)
    [ ${#files[@]} -gt 0 ] || mapfile -t files < <(find test -name '*.test.ts' | sort)
    # One local cluster for the whole run, started by the global setup.
    extra=(--test-global-setup=test/env/global-setup.ts --test-timeout=600000)
    ;;
  *) echo "unknown test group: $group" >&2; exit 2 ;;
esac
if [ ${#files[@]} -eq 0 ]; then
  echo "no $group test files found" >&2
  exit 1
fi
exec node --test --test-reporter=spec "${extra[@]}" "${files[@]}"
