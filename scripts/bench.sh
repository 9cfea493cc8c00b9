#!/usr/bin/env bash
# Runs the benchmarks in bench/ against a release build. Loopback only; bounded in count.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench throughput
# Also prints the size of the release binary it measured, beside its target.
cargo bench --locked --bench card
cargo bench --locked --bench dashboard
cargo bench --locked --bench backup
cargo bench --locked --bench storage
