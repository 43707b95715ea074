#!/usr/bin/env bash
# Times the README's two commands on a fresh clone: the revision's own first command (the `cargo`
# line of its README's "On a fresh clone" block: `cargo run -- dry-run` now, `cargo run --release
# -- dry-run` before 2a4de07), then `./scripts/test`, one after the other, with each step of the
# second time-stamped (seconds since the first began).
#
#   bench/fresh-clone.sh [REV] [--cold]
#
# REV (default HEAD) is cloned from this checkout into a new temporary directory (kept, printed).
# --cold also empties what a new machine does not have: the cargo registry cache
# (~/.cargo/registry), the uv and pip caches and every Docker image and build cache (`docker
# system prune -af`). It removes them for this user and this engine: not for a shared machine.
# Output: the two wall times, their sum, and the step times, in DIR/times and DIR/*.err.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=HEAD cold=false
for a in "$@"; do
  case $a in
    --cold) cold=true ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) rev=$a ;;
  esac
done
src=$(pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/cutover-fresh.XXXXXX")
git clone -q "$src" "$dir/repo"
git -C "$dir/repo" checkout -q "$(git rev-parse "$rev")"
if $cold; then
  rm -rf ~/.cargo/registry ~/.cache/uv ~/.cache/pip
  docker system prune -af >/dev/null
fi
cd "$dir/repo"
first=$(sed -n '/^## On a fresh clone/,/^## /p' README.md | grep -m1 '^cargo ' | sed 's/ *#.*//')
[[ -n $first ]] || { echo "no cargo command in the README's On a fresh clone block" >&2; exit 1; }
read -ra first_cmd <<<"$first"
t0=$(date +%s.%N)
stamp() { while IFS= read -r l; do printf '%7.1f %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$l"; done; }
s=$(date +%s)
rc1=0
"${first_cmd[@]}" >"$dir/dry-run.out" 2> >(stamp >"$dir/dry-run.err") || rc1=$?
t1=$(($(date +%s) - s))
s=$(date +%s)
rc2=0
./scripts/test >"$dir/test.out" 2> >(stamp >"$dir/test.err") </dev/null || rc2=$?
t2=$(($(date +%s) - s))
{
  echo "rev $(git rev-parse --short HEAD), cold $cold, $(date -u +%FT%TZ)"
  echo "$first: ${t1} s (exit $rc1)"
  echo "./scripts/test: ${t2} s (exit $rc2)"
  echo "the two: $((t1 + t2)) s"
  grep -E '^ *[0-9.]+ == ' "$dir/test.err" || true
  grep -E 'Summary \[' "$dir/test.err" || true
} | tee "$dir/times"
echo "in $dir"
