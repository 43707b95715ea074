#!/usr/bin/env bash
# Benchmark: `cutover local pipeline` from a commit to production serving it, with a warm Docker
# cache (default) or a cold one (--cold), stage by stage, beside the same work by hand
# (`docker build` + `docker push` of the sample app, then `cutover local deploy` of the same
# artifacts).
#
#   bench/pipeline.sh [--cold]   (needs cargo build --release or CUTOVER_BIN, Docker, haproxy,
#                                 docker-registry, jq, and the base images: scripts/base-images)
#
# --cold empties the sample app's build cache before the measured run and again before the build
# by hand: every image of the bench repository is removed (which removes the intermediate images
# of the legacy builder's cache under them), then dangling images and the BuildKit cache. The base
# images (cutover-test/builder:local, cutover-test/runtime:local) stay: no image can be pulled
# here, so they stand for a base image already on the host (CodeBuild caches its own images).
#
# A scratch clone of this checkout builds the sample app at 0.0.1 (creating the local service),
# then at 0.0.2 (the measured run), pushing to a registry started here on a free port.
set -euo pipefail
COLD=false
[[ ${1:-} == --cold ]] && COLD=true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CUTOVER_BIN:-$ROOT/target/release/cutover}
[[ -x $BIN ]] || { echo "build first: cargo build --release (or set CUTOVER_BIN)" >&2; exit 2; }
export PATH=$PATH:/usr/sbin
for t in docker haproxy docker-registry jq git; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done
docker image inspect cutover-test/builder:local >/dev/null 2>&1 || { echo "run scripts/base-images first" >&2; exit 2; }
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry"
printf 'version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s/registry}}\nhttp: {addr: 127.0.0.1:%s}\n' "$WORK" "$PORT" >"$WORK/registry.yml"
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG=$!
cleanup() { (cd "$WORK/repo" && "$BIN" local down >/dev/null 2>&1) || true; kill $REG 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
git clone -q "$ROOT" "$WORK/repo"
cd "$WORK/repo"
REPO=127.0.0.1:$PORT/bench-sample-app
sed -i "s|^\[image\]|[image]\nbuild_args = { BUILDER_IMAGE = \"cutover-test/builder:local\", RUNTIME_IMAGE = \"cutover-test/runtime:local\" }|" cutover.toml
cat >>cutover.toml <<TOML

[local]
deregistration_delay = "1s"
[local.health_check]
interval = "100ms"
[local.pipeline]
repository = "$REPO"
TOML
git -c user.name=bench -c user.email=bench@localhost commit -qam "bench settings"
"$BIN" --output json local pipeline >/dev/null 2>"$WORK/first.log" || { cat "$WORK/first.log" >&2; exit 1; }
sed -i 's/^version = "0.0.1"/version = "0.0.2"/' sample-app/Cargo.toml
git -c user.name=bench -c user.email=bench@localhost commit -qam "0.0.2"
# Empties the build cache of the bench repository's images (see --cold above).
empty_cache() {
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -F "$REPO" | xargs -r docker rmi -f >/dev/null
  docker image prune -f >/dev/null
  docker builder prune -af >/dev/null 2>&1 || true
}
CACHE=warm
if $COLD; then empty_cache; CACHE=cold; fi
t0=$(date +%s.%N)
"$BIN" --output json local pipeline >"$WORK/run.json" 2>"$WORK/run.log" || { cat "$WORK/run.log" >&2; exit 1; }
t1=$(date +%s.%N)
echo "local pipeline, commit to production serving it ($CACHE cache): $(python3 -c "print(round($t1 - $t0, 2))") s"
jq -r '.stages[] | .actions[] | "  \(.name | .[0:10])\t\(.seconds * 1000 | floor) ms"' "$WORK/run.json"
# By hand: the same build and push, then the same deploy.
sed -i 's/^version = "0.0.2"/version = "0.0.3"/' sample-app/Cargo.toml
if $COLD; then empty_cache; fi
t0=$(date +%s.%N)
docker build -q --build-arg BUILDER_IMAGE=cutover-test/builder:local --build-arg RUNTIME_IMAGE=cutover-test/runtime:local -t "$REPO:byhand" sample-app >/dev/null
docker push -q "$REPO:byhand" >/dev/null
t1=$(date +%s.%N)
echo "by hand: docker build + docker push of the next version ($CACHE cache): $(python3 -c "print(round($t1 - $t0, 2))") s"
"$BIN" artifacts --image "$REPO:byhand" >/dev/null 2>&1
t0=$(date +%s.%N)
"$BIN" local deploy out >/dev/null 2>&1
t1=$(date +%s.%N)
echo "by hand: cutover local deploy of its artifacts: $(python3 -c "print(round($t1 - $t0, 2))") s"
