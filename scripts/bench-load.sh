#!/usr/bin/env bash
# The load benchmark of issue 6: drives the workloads of a TOML file
# (benches/workloads/standalone.toml by default: getData, setData, create,
# 90/10 mix, exists, getChildren on wide parents, multi, and the 90/10 mix
# at a fixed offered load) against zkserver and against Apache ZooKeeper 3.8
# (Debian's package, started with zkServer.sh's JVM flags and -Xmx1000m),
# each on a fresh server with fsync on, and prints throughput, p50/p99/p99.9
# latency, resident memory and CPU per request side by side with the ratio
# zkserver/Java; the same figures go to target/bench/load.json.
#
#   scripts/bench-load.sh                          # the full run, about 5 minutes
#   ZKBENCH_QUICK=1 scripts/bench-load.sh          # about 30 s, scaled down
#   scripts/bench-load.sh benches/workloads/ensemble.toml
#                                                  # 3-node localhost ensembles of each
#                                                  # (read, setData, 90/10, create), ~4 min;
#                                                  # figures to target/bench/load-ensemble.json
#   scripts/bench-load.sh my-workloads.toml        # another workload file
#
#   ZKBENCH_VERSUS=metrics scripts/bench-load.sh   # the metrics' overhead: zkserver against
#                                                  # zkserver with the Prometheus provider on
#                                                  # and /metrics scraped every second
#   ZKBENCH_TLS=1 scripts/bench-load.sh           # the load over TLS on secureClientPort
#                                                  # (Java on Netty); target/bench/load-tls.json
# Other knobs (see benches/load.rs): ZKBENCH_ONLY=zkserver|java,
# ZKBENCH_FILTER=<part of a workload name>[,<another>], ZKBENCH_JAVA_HEAP_MB,
# ZKBENCH_KEEP=1.
# Figures are only comparable on an otherwise idle machine: the report shows
# the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null 2>&1 || [ ! -f /usr/share/java/zookeeper.jar ] \
    || [ ! -f /usr/share/java/slf4j-simple.jar ]; then
    if [ "${ZKBENCH_ONLY:-}" != zkserver ]; then
        echo "scripts/bench-load.sh: needs the Java ZooKeeper server: apt-get install -y zookeeper libslf4j-java (or ZKBENCH_ONLY=zkserver)" >&2
        exit 2
    fi
fi
# A workload file given as a relative path is taken from where the script
# was called, not from the repository root.
args=()
for a in "$@"; do
    if [[ "$a" == *.toml && "$a" != /* ]]; then
        a="$OLDPWD/$a"
    fi
    args+=("$a")
done
exec cargo bench --bench load -- "${args[@]+"${args[@]}"}"
