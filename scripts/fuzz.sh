#!/usr/bin/env bash
# Fuzz every `func FuzzXxx(f *testing.F)` target of the module, one after
# the other, each for a bounded time. CI calls this; locally:
#
#   scripts/fuzz.sh                       # every target, FUZZTIME each (default 15s)
#   FUZZTIME=1m scripts/fuzz.sh FuzzParse # only targets whose name matches
#
# Environment:
#   FUZZTIME          time (or "Nx" executions) per target, default 15s
#   FUZZMINIMIZETIME  time spent minimizing each new input, default 5s; Go's
#                     default (60s) can stall a short run on one input
#   FUZZPARALLEL      fuzzing workers per target, default GOMAXPROCS
#
# A failing input is written to <package>/testdata/fuzz/<Target>/ by go test
# (commit it with the fix: it then runs as a seed on every `go test`). The
# script fuzzes every target even after a failure, lists the failures, and
# exits non-zero if there was any.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-15s}
minimize=${FUZZMINIMIZETIME:-5s}
filter=${1:-.}
parallel=()
if [[ -n ${FUZZPARALLEL:-} ]]; then parallel=(-parallel "$FUZZPARALLEL"); fi

# "<package dir> <target>" for every fuzz target, sorted.
mapfile -t targets < <(
  grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
    sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*#\1 \2#' |
    grep -E " .*${filter}" | sort -u
)
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz.sh: no fuzz target matches ${filter}" >&2
  exit 1
fi

echo "fuzz.sh: ${#targets[@]} targets, ${fuzztime} each"
failed=()
start=$SECONDS
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "=== ${name} (./${dir})"
  if ! go test "./${dir}" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
    -fuzzminimizetime "$minimize" "${parallel[@]}"; then
    failed+=("${name} (./${dir})")
  fi
done

echo "fuzz.sh: done in $((SECONDS - start))s"
if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'fuzz.sh: FAILED %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets passed"
