#!/usr/bin/env bash
# The deterministic ensemble simulator (src/sim, docs/architecture.md).
#
#   scripts/simulate.sh N                  run seeds 0..N; last line: "N seeds, K violations"
#   scripts/simulate.sh --seed S           replay seed S exactly, printing its trace
#   scripts/simulate.sh --mutate NAME N    the same N seeds with one deliberate mistake
#   scripts/simulate.sh --scenario wedge   issue 10's wedge, scripted, printing its trace
#   scripts/simulate.sh --list-mutations   the available mutations, one a line
#   scripts/simulate.sh --help             usage, and the mutations
#
# The runner is built with the `simulation` feature only; the zkserver
# binary never contains the simulator or its mutations.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --features simulation --bin simulate
exec target/release/simulate "$@"
