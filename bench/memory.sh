#!/usr/bin/env bash
# Benchmark: the probe's memory over a long run, and `cutover report` on a large file.
#
#   bench/memory.sh [SECONDS...]   (default 10 60 300; needs cargo build --release --workspace)
#
# 1. `cutover probe --rate 2000 --keep-alive` against the sample app on loopback for each
#    duration, its maximum resident set size from /usr/bin/time (without --svg the probe keeps no
#    records: the summary is built as they come).
# 2. A results file of 10 million records (written here by a script, in the probe's format, 1 %
#    failures, a version switch halfway), then `cutover report` on it: wall time, records per
#    second and maximum RSS (the report streams the file).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CUTOVER_BIN:-$ROOT/target/release/cutover}
APP=$ROOT/target/release/sample-app
[[ -x $BIN && -x $APP ]] || { echo "build first: cargo build --release --workspace" >&2; exit 2; }
DURATIONS=("$@")
[[ ${#DURATIONS[@]} -gt 0 ]] || DURATIONS=(10 60 300)
WORK=$(mktemp -d)
APP_PID=
cleanup() { [[ -n $APP_PID ]] && kill "$APP_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$APP" --bind 127.0.0.1 --port "$PORT" 2>/dev/null &
APP_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/version" >/dev/null && break; sleep 0.05; done

for d in "${DURATIONS[@]}"; do
  /usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" -q --output json probe "http://127.0.0.1:$PORT/version" \
    --rate 2000 --keep-alive --duration "${d}s" --results "$WORK/r$d" >"$WORK/s$d.json" || true
  total=$(python3 -c "import json; print(json.load(open('$WORK/s$d.json'))['total'])")
  echo "probe --rate 2000 --keep-alive for ${d}s: ${total} requests, max RSS $(( $(tail -1 "$WORK/rss") / 1024 )) MB"
done

N=${REPORT_RECORDS:-10000000}
python3 - "$WORK/big.jsonl" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w", buffering=1 << 22) as f:
    t0 = 1_800_000_000_000_000
    half = n // 2
    for i in range(n):
        start = t0 + i * 500
        if i % 100 == 7:
            f.write('{"seq":%d,"start_unix_us":%d,"sched_delay_us":%d,"latency_us":%d,"kind":"connect_refused","detail":"Connection refused (os error 111)"}\n' % (i, start, i % 40, 150 + i % 50))
        else:
            v = "0.0.1" if i < half else "0.0.2"
            f.write('{"seq":%d,"start_unix_us":%d,"sched_delay_us":%d,"latency_us":%d,"kind":"ok","status":200,"version":"%s"}\n' % (i, start, i % 40, 300 + (i * 7919) % 5000, v))
PY
size=$(du -m "$WORK/big.jsonl" | cut -f1)
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" -q --output json report "$WORK/big.jsonl" >"$WORK/report.json" || true
t1=$(date +%s.%N)
python3 - "$WORK/report.json" "$N" "$t0" "$t1" "$(tail -1 "$WORK/rss")" "$size" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2]); secs = float(sys.argv[4]) - float(sys.argv[3])
print(f"report of {n} records ({sys.argv[6]} MB): {secs:.1f} s, {n / secs / 1e6:.2f} M records/s, max RSS {int(sys.argv[5]) // 1024} MB; "
      f"summary: {s['total']} requests, {s['failed']} failed, versions {[v['version'] for v in s['versions']]}")
PY
