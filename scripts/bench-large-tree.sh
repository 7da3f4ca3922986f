#!/usr/bin/env bash
# Large trees: the persistence benchmark (benches/persistence.rs) at
# 10,000,000 znodes of 100 bytes, zkserver beside Apache ZooKeeper 3.8 in
# one run, Java given a heap that holds the tree (-Xmx12g by default; the
# tree alone takes several GiB of Java heap). Reports restart-to-serving
# time and RSS after restart against the aims zkserver/Java <= 0.15 and
# <= 0.2; figures in target/bench/persistence-<N>.json.
#
#   scripts/bench-large-tree.sh                          # 10M znodes, about 20 minutes
#   ZKBENCH_NODES=2000000 scripts/bench-large-tree.sh    # 2M, about 5 minutes
#
# Needs free memory for both servers in turn (about 2 GiB for zkserver and
# Java's heap) and disk in $TMPDIR for each server's logs and two newest
# snapshots (the bench deletes older ones while loading): about 10 GiB
# at 10M.
# Other knobs as for scripts/bench-persistence.sh (ZKBENCH_RESTARTS defaults
# to 3 here: each Java restart of 10M znodes takes minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export ZKBENCH_NODES="${ZKBENCH_NODES:-10000000}"
export ZKBENCH_JAVA_HEAP_MB="${ZKBENCH_JAVA_HEAP_MB:-12000}"
export ZKBENCH_RESTARTS="${ZKBENCH_RESTARTS:-3}"
export ZKBENCH_AIM_RESTART_RATIO="${ZKBENCH_AIM_RESTART_RATIO:-0.15}"
export ZKBENCH_AIM_RSS_RATIO="${ZKBENCH_AIM_RSS_RATIO:-0.2}"
exec scripts/bench-persistence.sh "$@"
