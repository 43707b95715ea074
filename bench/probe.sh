#!/usr/bin/env bash
# Benchmark: the probe against wrk and the seed's shell loop of curl, on loopback, against the
# sample app and against nginx, in one run. Also: at --rate 1000, the achieved rate and the
# scheduling delay's 99th percentile.
#
#   bench/probe.sh [SECONDS]    (default 10 per measurement; needs cargo build --release,
#                                and Debian's wrk and nginx-light: apt-get install wrk nginx-light)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-10}
BIN=$ROOT/target/release/cutover
APP=$ROOT/target/release/sample-app
[[ -x $BIN && -x $APP ]] || { echo "build first: cargo build --release --workspace" >&2; exit 2; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx: apt-get install wrk nginx-light" >&2; exit 2; }
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

APP_PORT=$(port)
"$APP" --bind 127.0.0.1 --port "$APP_PORT" 2>/dev/null &
PIDS+=($!)
NGINX_PORT=$(port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/nginx/pid; error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$NGINX_PORT;
    location = /version { default_type application/json; return 200 '{"version":"0.0.1"}'; } } }
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
sleep 0.5

rate_of() { # summary.json -> requests per second over the run
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(f\"{s['total']/ (s['duration_ms']/1000):.0f} failed={s['failed']}\")" "$1"
}
probe_max() { # url, extra flags
  local dir=$WORK/r-$RANDOM
  "$BIN" -q probe "$1" --rate max --concurrency 16 --duration "${SECS}s" --results "$dir" --output json "${@:2}" >"$dir.json" || true
  rate_of "$dir.json"
}
wrk_rate() { wrk -t1 -c16 -d"${SECS}s" "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'; }
curl_rate() { # the seed's loop: curl in a shell loop, appended to a file
  local n=0 end=$(( $(date +%s) + SECS ))
  while (( $(date +%s) < end )); do curl -s "$1" >>"$WORK/curl.txt"; n=$((n + 1)); done
  echo $(( n / SECS ))
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECS}s per measurement"
printf '%-12s %-34s %s\n' target client "requests/s"
for t in "sample-app $APP_PORT" "nginx $NGINX_PORT"; do
  set -- $t; url="http://127.0.0.1:$2/version"
  printf '%-12s %-34s %s\n' "$1" "wrk -t1 -c16 (keep-alive)" "$(wrk_rate "$url")"
  printf '%-12s %-34s %s\n' "$1" "probe --rate max --keep-alive" "$(probe_max "$url" --keep-alive)"
  printf '%-12s %-34s %s\n' "$1" "probe --rate max (new conn/req)" "$(probe_max "$url")"
  printf '%-12s %-34s %s\n' "$1" "shell loop of curl" "$(curl_rate "$url")"
done

dir=$WORK/fixed
"$BIN" -q probe "http://127.0.0.1:$APP_PORT/version" --rate 1000 --duration "${SECS}s" --results "$dir" --output json >"$dir.json"
python3 - "$dir.json" "$SECS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); secs = float(sys.argv[2])
rate = s["total"] / secs
print(f"--rate 1000 for {secs:.0f}s: {s['total']} requests, achieved {s['start_rate_per_s']:.2f}/s "
      f"(error {abs(s['start_rate_per_s'] - 1000) / 10:.3f}%), sched delay p99 {s['sched_delay_ms']['p99']:.3f} ms, "
      f"p99.9 {s['sched_delay_ms']['p999']:.3f} ms, failed {s['failed']}")
PY
