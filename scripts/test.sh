#!/usr/bin/env bash
# The project's test command: builds zkserver and runs every test target
# (unit tests, the integration suites in tests/, interop with Debian's
# zkCli.sh, cli_mt and kazoo).
#
#   scripts/test.sh [extra cargo test args]    e.g. scripts/test.sh --test sessions
#
# ZK_TEST_SERVER=java runs the integration suites against Apache ZooKeeper
# 3.8 instead of our binary (the default is ZK_TEST_SERVER=zkserver).
# ZK_TEST_RUNNER=nextest uses cargo-nextest instead of cargo test (its
# summary differs from cargo's "test result:" lines).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v java >/dev/null 2>&1 || missing+=("java (apt-get install -y zookeeper pulls in a JRE)")
[ -x /usr/share/zookeeper/bin/zkCli.sh ] || missing+=("/usr/share/zookeeper/bin/zkCli.sh (apt-get install -y zookeeper)")
[ -f /usr/share/java/zookeeper-3.8.0.jar ] || missing+=("/usr/share/java/zookeeper-3.8.0.jar (apt-get install -y zookeeper)")
[ -x /usr/lib/zookeeper/bin/cli_mt ] || missing+=("/usr/lib/zookeeper/bin/cli_mt (apt-get install -y zookeeper-bin)")
/usr/bin/python3 -c 'import kazoo' >/dev/null 2>&1 || missing+=("kazoo for /usr/bin/python3 (apt-get install -y python3-kazoo)")
if [ "${#missing[@]}" -gt 0 ]; then
    echo "scripts/test.sh: the tests need tools that are not installed:" >&2
    for m in "${missing[@]}"; do echo "  - $m" >&2; done
    echo "install them with: apt-get update && apt-get install -y zookeeper zookeeper-bin python3-kazoo" >&2
    exit 2
fi

echo "== building (debug profile; the tests launch target/debug/zkserver)"
cargo build --all-targets

echo "== testing against ${ZK_TEST_SERVER:-zkserver}"
if [ "${ZK_TEST_RUNNER:-cargo}" = nextest ] && cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --all-targets --no-fail-fast "$@"
fi
exec cargo test --all-targets --no-fail-fast "$@"
