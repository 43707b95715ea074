#!/usr/bin/env bash
# How long `cutover verify` takes to fail against an endpoint that refuses connections
# (127.0.0.1:9) and one whose name does not resolve. No AWS, no network: both fail locally.
#   bench/unreachable.sh [BINARY] [RUNS]     (default target/debug/cutover, 3 runs)
set -euo pipefail
BIN=${1:-target/debug/cutover}
RUNS=${2:-3}
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=not-a-secret AWS_REGION=us-east-1
for endpoint in http://127.0.0.1:9 http://no-such-host.invalid; do
  for _ in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    code=0
    AWS_ENDPOINT_URL=$endpoint "$BIN" verify >/dev/null 2>&1 || code=$?
    printf '%s exit %s %.2f s\n' "$endpoint" "$code" "$(echo "$(date +%s.%N) - $start" | bc)"
  done
done
