#!/usr/bin/env bash
# Benchmark: building and pushing the sample app on a host with an EMPTY Docker cache (as every
# CodeBuild host starts), cutover build against the plain `docker build && docker push`.
#
#   (a) cold build and push            (b) rebuild after a one-line source change
#   (c) re-run on an unchanged commit
#
# Beside (b), its floor, measured in the same run: what a one-line change must redo on an empty
# host, each part alone: the pull of the builder stage's base, the compile in a container from
# that base, and the push of only the changed layer (the registry has every other one).
#
# Every run starts with `docker system prune -af` (images and build cache gone). The base images
# are served from the bench's own local registry, so both contenders pull them as on CodeBuild.
# WARNING: it empties this machine's Docker cache; scripts/base-images re-creates the test images.
#
#   bench/build.sh [RUNS]     (default 3; needs: cargo build --release, docker, docker-registry)
#   CUTOVER_BIN=target/debug/cutover bench/build.sh    another binary (cutover's own share of a
#                                                      build is small: the time is Docker's)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
BIN=${CUTOVER_BIN:-$ROOT/target/release/cutover}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
[[ -x $BIN ]] || { echo "build first: cargo build --release" >&2; exit 2; }
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cleanup() { kill "$REG_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cat >"$WORK/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: $REG}
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 50); do curl -s "http://$REG/v2/" >/dev/null && break; sleep 0.2; done

# Base images into the registry, once.
"$ROOT/scripts/base-images" >/dev/null
for b in builder runtime; do
  docker tag "cutover-test/$b:local" "$REG/base/$b:1"
  docker push --quiet "$REG/base/$b:1" >/dev/null
done
ARGS=(--build-arg "BUILDER_IMAGE=$REG/base/builder:1" --build-arg "RUNTIME_IMAGE=$REG/base/runtime:1")

# A git checkout of the sample app with its own cutover.toml.
SRC=$WORK/src
mkdir -p "$SRC"
cp -r "$ROOT/sample-app" "$SRC/sample-app"
rm -rf "$SRC/sample-app/tests" "$SRC/sample-app/README.md"
cp -r "$ROOT/ecs" "$SRC/ecs"
sed "s#111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app#$REG/app#" "$ROOT/cutover.toml" >"$SRC/cutover.toml"
git -C "$SRC" init -q
gitc() { git -C "$SRC" -c user.name=bench -c user.email=bench@example.invalid commit -q --allow-empty -am "$1"; }
git -C "$SRC" add -A && gitc "initial"

empty_cache() { docker system prune -af >/dev/null 2>&1; }
now() { date +%s.%N; }
change_one_line() { sed -i "s/Response::text(200, \"ok[^\"]*\")/Response::text(200, \"ok-$1\")/" "$SRC/sample-app/src/routes.rs"; gitc "change $1"; }

plain() { # tag
  docker build --quiet -f "$SRC/sample-app/Dockerfile" "${ARGS[@]}" -t "$REG/plain:$1" "$SRC/sample-app" >/dev/null
  docker push --quiet "$REG/plain:$1" >/dev/null
}
cut() { (cd "$SRC" && "$BIN" -q build "${ARGS[@]}" --repository "$REG/app-$run" --out "$WORK/out" >/dev/null); }

# The floor's three parts, each timed alone (see the header).
floor() { # run
  local s e pull compile push
  change_one_line "f$1"
  empty_cache
  s=$(now); docker pull --quiet "$REG/base/builder:1" >/dev/null; e=$(now)
  pull=$(python3 -c "print(f'{$e-$s:.2f}')")
  rm -rf "$WORK/floor-src" && cp -r "$SRC/sample-app" "$WORK/floor-src"
  s=$(now)
  docker run --rm -v "$WORK/floor-src:/src" -w /src -e CARGO_PROFILE_RELEASE_LTO=true \
    -e CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 -e CARGO_PROFILE_RELEASE_STRIP=symbols \
    "$REG/base/builder:1" cargo build --release --offline --quiet >/dev/null
  e=$(now)
  compile=$(python3 -c "print(f'{$e-$s:.2f}')")
  # The image of this change, built untimed; the registry has its base layers from (b).
  docker build --quiet -f "$SRC/sample-app/Dockerfile" "${ARGS[@]}" -t "$REG/plain:f$1" "$SRC/sample-app" >/dev/null
  s=$(now); docker push --quiet "$REG/plain:f$1" >/dev/null; e=$(now)
  push=$(python3 -c "print(f'{$e-$s:.2f}')")
  record f_pull "$pull"; record f_compile "$compile"; record f_push "$push"
  record f_sum "$(python3 -c "print(f'{$pull+$compile+$push:.2f}')")"
}

declare -A T
record() { T[$1]="${T[$1]:-} $2"; }
timeit() { local s e; empty_cache; s=$(now); "$@"; e=$(now); python3 -c "print(f'{$e-$s:.2f}')"; }

for run in $(seq "$RUNS"); do
  echo "run $run/$RUNS" >&2
  # (a) cold: new content nobody built, a new repository (no parent image), empty cache.
  change_one_line "a$run"
  record a_plain "$(timeit plain "a$run")"
  record a_cutover "$(timeit cut)"
  # (b) one-line change after (a) was pushed: parent commit's image exists in the registry.
  change_one_line "b$run"
  record b_plain "$(timeit plain "b$run")"
  record b_cutover "$(timeit cut)"
  # (c) the same commit again.
  record c_plain "$(timeit plain "c$run")"
  record c_cutover "$(timeit cut)"
  floor "$run"
done
empty_cache
"$ROOT/scripts/base-images" >/dev/null

median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" $1; }
printf '%-28s %10s %10s %8s   %s\n' case plain_s cutover_s ratio "runs (plain | cutover)"
for c in a b c; do
  p=$(median "${T[${c}_plain]}"); q=$(median "${T[${c}_cutover]}")
  r=$(python3 -c "print(f'{$p/$q:.1f}x')")
  name=$([[ $c == a ]] && echo "(a) cold build+push" || ([[ $c == b ]] && echo "(b) one-line change" || echo "(c) unchanged re-run"))
  printf '%-28s %10s %10s %8s   %s |%s\n' "$name" "$p" "$q" "$r" "${T[${c}_plain]}" "${T[${c}_cutover]}"
done
f=$(median "${T[f_sum]}"); q=$(median "${T[b_cutover]}")
printf '%-28s %10s %10s %8s   %s\n' "(b) floor" "$f" "$q" "$(python3 -c "print(f'{$q/$f:.2f}x')")" \
  "pull$(echo "${T[f_pull]}") | compile$(echo "${T[f_compile]}") | push$(echo "${T[f_push]}") (cutover/floor)"
