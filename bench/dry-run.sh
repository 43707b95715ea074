#!/usr/bin/env bash
# Benchmark: `cutover dry-run` on the bundled sample, as a whole process (start-up, config, context
# hash, render, validate, atomic write). Reports the median and p90 wall time over RUNS runs and
# the peak resident memory (max RSS, from GNU time) of one run.
#
#   bench/dry-run.sh [RUNS]      (default 50; needs a release build: cargo build --release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-50}
BIN=$ROOT/target/release/cutover
[[ -x $BIN ]] || { echo "build first: cargo build --release" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cd "$ROOT"

"$BIN" -q dry-run --out "$OUT/out" # warm the page cache once
python3 - "$BIN" "$OUT/out" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
bin, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run([bin, "-q", "dry-run", "--out", out], check=True)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
p90 = times[int(0.9 * (len(times) - 1))]
print(f"runs={runs} median_ms={statistics.median(times):.2f} p90_ms={p90:.2f} min_ms={times[0]:.2f} max_ms={times[-1]:.2f}")
PY
/usr/bin/time -f 'max_rss_kb=%M' "$BIN" -q dry-run --out "$OUT/out" 2>&1 >/dev/null | grep max_rss_kb
