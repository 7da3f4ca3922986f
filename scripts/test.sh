#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is
# missing (Debian's zookeeper, zookeeper-bin, python3-kazoo,
# python3-pure-sasl and python3-kerberos: the Java server, zkCli.sh, the C
# client cli_mt and kazoo with its SASL; krb5-kdc, krb5-admin-server and
# krb5-user for the KDC the SASL tests start), builds zkserver and runs
# every test target (unit tests, the integration suites in tests/, interop
# with Debian's zkCli.sh, cli_mt and kazoo; iptables, strace and prlimit for
# the partition, fault-injection, fsync and descriptor tests; openssl and
# the JRE's keytool make the TLS tests' certificates, curl asks the
# AdminServer over HTTPS); without
# arguments it first runs
# each fuzz target for a few seconds (scripts/fuzz.sh).
#
#   scripts/test.sh [extra cargo test args]    e.g. scripts/test.sh --test sessions
#
# ZK_TEST_SERVER=java runs the integration suites against Apache ZooKeeper
# 3.8 instead of our binary (the default is ZK_TEST_SERVER=zkserver).
# ZK_TEST_RUNNER=nextest uses cargo-nextest instead of cargo test (its
# summary differs from cargo's "test result:" lines).
set -euo pipefail
cd "$(dirname "$0")/.."

missing() {
    local m=()
    command -v java >/dev/null 2>&1 || m+=("java (apt-get install -y zookeeper pulls in a JRE)")
    [ -x /usr/share/zookeeper/bin/zkCli.sh ] || m+=("/usr/share/zookeeper/bin/zkCli.sh (zookeeper)")
    [ -f /usr/share/java/zookeeper-3.8.0.jar ] || m+=("/usr/share/java/zookeeper-3.8.0.jar (zookeeper)")
    [ -x /usr/lib/zookeeper/bin/cli_mt ] || m+=("/usr/lib/zookeeper/bin/cli_mt (zookeeper-bin)")
    for j in jetty9-server jetty9-servlet jetty9-security jetty9-util-ajax servlet-api jackson-databind; do
        [ -f "/usr/share/java/$j.jar" ] || m+=("/usr/share/java/$j.jar (Java's AdminServer: libjetty9-java, libservlet-api-java, libjackson2-databind-java)")
    done
    /usr/bin/python3 -c 'import kazoo' >/dev/null 2>&1 || m+=("kazoo for /usr/bin/python3 (python3-kazoo)")
    for mod in pytest mock objgraph; do
        /usr/bin/python3 -c "import $mod" >/dev/null 2>&1 || m+=("$mod for /usr/bin/python3 (python3-$mod: kazoo's own test suite)")
    done
    /usr/bin/python3 -c 'import puresasl' >/dev/null 2>&1 || m+=("pure-sasl for /usr/bin/python3 (python3-pure-sasl; kazoo's SASL in tests/sasl.rs)")
    /usr/bin/python3 -c 'import kerberos' >/dev/null 2>&1 || m+=("kerberos for /usr/bin/python3 (python3-kerberos; kazoo's GSSAPI in tests/sasl.rs)")
    for t in /usr/sbin/krb5kdc /usr/sbin/kdb5_util /usr/sbin/kadmin.local /usr/bin/kinit; do
        [ -x "$t" ] || m+=("$t (krb5-kdc, krb5-admin-server, krb5-user: the KDC tests/sasl.rs starts)")
    done
    ls /usr/lib/*/libgssapi_krb5.so.2 >/dev/null 2>&1 || m+=("libgssapi_krb5.so.2 (libgssapi-krb5-2: zkserver's GSSAPI)")
    command -v iptables >/dev/null 2>&1 || m+=("iptables (the partition and fault-injection tests)")
    command -v strace >/dev/null 2>&1 || m+=("strace (the directory-fsync tests)")
    command -v prlimit >/dev/null 2>&1 || m+=("prlimit (util-linux; the descriptor-exhaustion test)")
    command -v c++ >/dev/null 2>&1 || m+=("c++ (g++; libFuzzer in the fuzz targets)")
    command -v openssl >/dev/null 2>&1 || m+=("openssl (the TLS tests make their certificates)")
    command -v curl >/dev/null 2>&1 || m+=("curl (the AdminServer's HTTPS requests in tests/admin_server.rs)")
    command -v keytool >/dev/null 2>&1 || m+=("keytool (the JRE's; the TLS tests make JKS and PKCS12 stores)")
    if [ "${#m[@]}" -gt 0 ]; then printf '%s\n' "${m[@]}"; fi
}

if [ -n "$(missing)" ]; then
    echo "== installing the Java ZooKeeper 3.8 server and clients the interop tests use"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y zookeeper zookeeper-bin python3-kazoo python3-pytest python3-mock python3-objgraph \
        python3-pure-sasl python3-kerberos krb5-kdc krb5-admin-server krb5-user libgssapi-krb5-2 \
        iptables strace util-linux g++ \
        libjetty9-java libservlet-api-java libjackson2-databind-java openssl curl default-jre-headless
fi
still=$(missing)
if [ -n "$still" ]; then
    echo "scripts/test.sh: the tests need tools that are still not installed:" >&2
    echo "$still" | sed 's/^/  - /' >&2
    exit 2
fi

echo "== building (debug profile; the tests launch target/debug/zkserver)"
cargo build --all-targets

# The full suite (no arguments) also runs each fuzz target briefly from its
# committed corpus, which replays every regression input in it; a panic, a
# hang or an allocation over the bound fails the suite. ZK_FUZZ_SECONDS
# sets the time per target (default 10).
if [ $# -eq 0 ]; then
    echo "== fuzzing: a short run of each target"
    bash scripts/fuzz.sh --time "${ZK_FUZZ_SECONDS:-10}"
fi

echo "== testing against ${ZK_TEST_SERVER:-zkserver}"
if [ "${ZK_TEST_RUNNER:-cargo}" = nextest ] && cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --all-targets --no-fail-fast "$@"
fi
exec cargo test --all-targets --no-fail-fast "$@"
