#!/usr/bin/env bash
# The persistence benchmark of issue 3: loads 1,000,000 znodes of 100 bytes
# into zkserver and into Apache ZooKeeper 3.8 (Debian's package, started with
# zkServer.sh's JVM flags and -Xmx1000m) in one run, and prints load rate,
# resident memory, restart-to-serving time, snapshot and log sizes side by
# side; the same figures go to target/bench/persistence.json.
#
#   scripts/bench-persistence.sh                     # the full run, several minutes
#   ZKBENCH_NODES=20000 scripts/bench-persistence.sh # a quick one
#
# Other knobs (see benches/persistence.rs): ZKBENCH_ONLY=zkserver|java,
# ZKBENCH_RESTARTS, ZKBENCH_JAVA_HEAP_MB, ZKBENCH_SETTLE_SECS, ZKBENCH_KEEP=1.
# Figures are only comparable on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null 2>&1 || [ ! -f /usr/share/java/zookeeper.jar ] \
    || [ ! -f /usr/share/java/slf4j-simple.jar ]; then
    echo "scripts/bench-persistence.sh: needs the Java ZooKeeper server: apt-get install -y zookeeper libslf4j-java" >&2
    exit 2
fi
exec cargo bench --bench persistence "$@"
