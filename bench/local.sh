#!/usr/bin/env bash
# Benchmark: `cutover local deploy` from its start to blue stopped, all at once, no termination
# wait, the sample app, split by lifecycle event, against the floor: green's container start
# (the `docker run` of one app container, measured here) plus the healthy threshold times the
# health check interval. Target: the overhead over the floor under 1 s.
#
#   bench/local.sh [N]      (default 10 deployments; needs cargo build --release, Docker, haproxy)
#
# The images are the two sample-app builds (bench/sample-apps.sh) imported into the local engine
# (no registry: docker run finds them locally). Health check: every 100 ms, healthy after 2.
# CUTOVER_BIN picks another cutover binary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-10}
BIN=${CUTOVER_BIN:-$ROOT/target/release/cutover}
[[ -x $BIN ]] || { echo "build first: cargo build --release (or set CUTOVER_BIN)" >&2; exit 2; }
export PATH=$PATH:/usr/sbin
command -v haproxy >/dev/null || { echo "needs haproxy: apt-get install haproxy" >&2; exit 2; }
# shellcheck source=bench/sample-apps.sh
source "$ROOT/bench/sample-apps.sh"
WORK=$(mktemp -d)
cleanup() { (cd "$WORK" && "$BIN" local down >/dev/null 2>&1) || true; rm -rf "$WORK"; }
trap cleanup EXIT

image() { # image VERSION BINARY: a one-layer image of BINARY with its libraries
  local stage; stage=$(mktemp -d "$WORK/stage.XXXXXX")
  cp "$2" "$stage/sample-app"
  for lib in $(ldd "$2" | grep -o '/[^ ]*'); do mkdir -p "$stage$(dirname "$lib")" && cp -L "$lib" "$stage$lib"; done
  tar -C "$stage" -cf - . | docker import --change 'ENTRYPOINT ["/sample-app"]' --change 'ENV PORT=8080' \
    - "cutover-bench/sample-app:$1" >/dev/null
}
image 0.0.1 "$V1"
image 0.0.2 "$V2"
cp "$ROOT/cutover.toml" "$WORK/" && mkdir -p "$WORK/ecs" && cp "$ROOT/ecs/taskdef.json" "$WORK/ecs/"
cat >>"$WORK/cutover.toml" <<'TOML'

[local]
deregistration_delay = "1s"
[local.health_check]
interval = "100ms"
healthy_threshold = 2
TOML

python3 - "$BIN" "$WORK" "$N" <<'PY'
import json, statistics, subprocess, sys, time
bin, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def run(*args):
    return subprocess.run([bin, *args], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
def artifacts(v):
    assert run("artifacts", "--image", f"cutover-bench/sample-app:{v}").returncode == 0
artifacts("0.0.1")
assert run("local", "deploy", "out").returncode == 0, "the first deploy"
# The floor's container start: one `docker run -d` of the app image, to running.
starts = []
for _ in range(5):
    t = time.perf_counter()
    cid = subprocess.run(["docker", "run", "-d", "cutover-bench/sample-app:0.0.1"], stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    starts.append(time.perf_counter() - t)
    subprocess.run(["docker", "rm", "-f", cid], stdout=subprocess.DEVNULL, check=True)
start = statistics.median(starts)
floor = start + 2 * 0.100
totals, events = [], {}
for i in range(n):
    artifacts("0.0.2" if i % 2 == 0 else "0.0.1")
    t = time.perf_counter()
    out = run("--output", "json", "local", "deploy", "out")
    took = time.perf_counter() - t
    assert out.returncode == 0, out
    d = json.loads(out.stdout)["deployment"]
    totals.append(took)
    for e in d["events"]:
        if e["start_unix_us"] and e["end_unix_us"]:
            events.setdefault(e["name"], []).append((e["end_unix_us"] - e["start_unix_us"]) / 1e6)
med = statistics.median(totals)
print(f"deployments            {n}, all at once, termination wait 0, health check 2 x 100 ms")
print(f"local deploy, whole    median {med*1000:7.0f} ms   min {min(totals)*1000:.0f}   max {max(totals)*1000:.0f}")
for name, xs in events.items():
    print(f"  {name:<22} median {statistics.median(xs)*1000:7.0f} ms")
print(f"floor                  {floor*1000:7.0f} ms   (docker run of the app {start*1000:.0f} ms, median of 5, + 2 x 100 ms)")
print(f"overhead over floor    {(med-floor)*1000:7.0f} ms   (target: under 1000)")
PY
