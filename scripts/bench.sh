#!/usr/bin/env bash
# Runs the benchmarks in bench/ against a release build. Loopback only; bounded in count.
set -euo pipefail
cd "$(dirname "$0")/.."
# The SQLite baseline is a package of its own, so neither the fealty binary nor the test suite
# compiles SQLite; throughput runs it beside fealty in the same run.
cargo build --release --locked --manifest-path bench/sqlite-baseline/Cargo.toml \
    --target-dir target/sqlite-baseline
FEALTY_SQLITE_BASELINE="$PWD/target/sqlite-baseline/release/sqlite-baseline" \
    cargo bench --locked --bench throughput
# Also prints the size of the release binary it measured, beside its target.
cargo bench --locked --bench card
cargo bench --locked --bench dashboard
cargo bench --locked --bench backup
cargo bench --locked --bench storage
cargo bench --locked --bench memory
cargo bench --locked --bench hooks
cargo bench --locked --bench nanode
