#!/usr/bin/env bash
# Benchmark: the probe gate of `cutover deploy --probe`, from the probe's failure over the limit to
# StopDeployment sent. The deployment is replayed through the SDK's replay client
# (tests/it/deploy_replay.rs, the_probe_gate_stops_the_deployment_with_rollback_at_once): the
# probe sends to a refused loopback port at 200/s, the gate's limit is 2, the poll interval is 60 s,
# so only the gate can send the stop. Runs the test N times (default 20) in the test profile and
# prints each reaction time and the median. No AWS, no services.
#
#   bench/gate.sh [N]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-20}
cd "$ROOT"
cargo test -q --test it --no-run 2>/dev/null
out=$(for _ in $(seq "$N"); do
  cargo test -q --test it deploy_replay::the_probe_gate_stops -- --nocapture 2>&1 |
    sed -n 's/^probe gate: StopDeployment sent \([0-9.]*\) ms.*/\1/p'
done)
echo "$out" | tr '\n' ' '; echo
echo "$out" | sort -g | awk '{a[NR]=$1} END {printf "runs %d, median %.2f ms, max %.2f ms\n", NR, a[int((NR+1)/2)], a[NR]}'
