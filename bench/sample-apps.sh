# Sourced by the bench scripts: sets V1 and V2 to sample-app binaries answering 0.0.1 and 0.0.2,
# from CUTOVER_TEST_SAMPLE_APP_V1/_V2 when set, else built here in release (one target
# directory per version: APP_VERSION is compiled in).
if [[ -n ${CUTOVER_TEST_SAMPLE_APP_V1:-} && -n ${CUTOVER_TEST_SAMPLE_APP_V2:-} ]]; then
  V1=$CUTOVER_TEST_SAMPLE_APP_V1 V2=$CUTOVER_TEST_SAMPLE_APP_V2
else
  for v in 0.0.1 0.0.2; do
    APP_VERSION=$v cargo build --quiet --release -p sample-app --manifest-path "$ROOT/Cargo.toml" \
      --target-dir "$ROOT/target/bench-bin/build-$v"
  done
  V1=$ROOT/target/bench-bin/build-0.0.1/release/sample-app
  V2=$ROOT/target/bench-bin/build-0.0.2/release/sample-app
fi
