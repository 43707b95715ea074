#!/usr/bin/env bash
# Benchmark: N `cutover rehearse` runs in a row behind a real HAProxy on 127.0.0.1, alternating
# v0.0.1 → v0.0.2 and back, with the fast settings of tests/it/rehearse_repeat.rs (probe 200 ms
# before and after, 200 ms termination wait). The test asserts that no request fails; the time
# it takes is measured here (target: 20 cutovers in under 120 s).
#
#   bench/rehearse.sh [N]      (default 20; needs cargo build --release and haproxy on PATH)
#
# The two sample-app versions come from CUTOVER_TEST_SAMPLE_APP_V1/_V2 when set (scripts/test's
# debug builds), else they are built here in release (target/bench-bin/). CUTOVER_BIN picks
# another cutover binary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-20}
BIN=${CUTOVER_BIN:-$ROOT/target/release/cutover}
[[ -x $BIN ]] || { echo "build first: cargo build --release (or set CUTOVER_BIN)" >&2; exit 2; }
export PATH=$PATH:/usr/sbin
command -v haproxy >/dev/null || { echo "needs haproxy: apt-get install haproxy" >&2; exit 2; }
# shellcheck source=bench/sample-apps.sh
source "$ROOT/bench/sample-apps.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$BIN" "$V1" "$V2" "$WORK" "$N" <<'PY'
import json, subprocess, sys, time
bin, v1, v2, work, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
cmd = lambda app: f"{app} --bind 127.0.0.1 --port {{port}}"
total = requests = failed = 0
times = []
for i in range(n):
    blue, green, to = (v1, v2, "0.0.2") if i % 2 == 0 else (v2, v1, "0.0.1")
    t = time.perf_counter()
    out = subprocess.run(
        [bin, "rehearse", "--output", "json", "--blue-cmd", cmd(blue), "--green-cmd", cmd(green),
         "--probe-before", "200ms", "--probe-after", "200ms", "--termination-wait", "200ms",
         "--results", f"{work}/run-{i:02}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - t
    times.append(took)
    s = json.loads(out.stdout)["summary"]
    requests += s["total"]; failed += s["failed"]
    print(f"#{i:02} -> {to}: exit {out.returncode}, {s['total']} requests, {s['failed']} failed, {took:.2f} s")
whole = sum(times)
print(f"{n} cutovers: {whole:.1f} s ({whole / n:.2f} s each), {requests} requests, {failed} failed"
      f"  [target for 20: < 120 s]")
PY
