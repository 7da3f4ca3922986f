#!/usr/bin/env bash
# Builds the Apache ZooKeeper 3.8.0 C client's own cppunit test program
# (zktest-mt, from zookeeper-client/zookeeper-client-c/tests) and runs it
# against Java ZooKeeper 3.8 or against zkserver.
#
#   scripts/c-client-tests.sh build
#   scripts/c-client-tests.sh run {java|zkserver} [TEST ...]
#
# `build` downloads the 3.8.0 source (Debian's copy of the Apache release
# tarball, its sha512 pinned below), generates the C records from
# zookeeper.jute with the jute compiler in Debian's zookeeper-jute.jar, and
# builds zktest-mt with autotools under target/c-client/<key>/ (key: the
# tarball's hash and this build recipe), once; later calls reuse it.
#
# `run` runs zktest-mt once per TEST (a cppunit name such as
# Zookeeper_simpleSystem::testIPV6 or TestReconfigServer; none means each
# of its suites in turn) and prints its output, then after each run one
# line per test, "PASS name" or "FAIL name" (from the tests.xml it
# writes), or "CRASH TEST" when it died before writing it. It exits 0 when
# every test passed. One suite per run, because each run starts a fresh
# server and some suites stop or replace it (the read-only suite leaves
# none running, and cppunit's suite order is not fixed). The tests start their servers
# themselves on fixed ports (22181, 2000-4002, ...) with fixed files in
# /tmp, through two scripts:
#   - tests/zkServer.sh (standalone and read-only servers) runs
#     `java ... ZooKeeperServerMain|QuorumPeerMain zoo.cfg`; for zkserver a
#     stand-in `java` (tests/fixtures/java-shim.sh) on PATH runs
#     $ZKSERVER_BIN with that zoo.cfg and those -D properties;
#   - $ZKROOT/bin/zkServer.sh (the 3-node reconfig ensembles) is Java's
#     bin/zkServer.sh (Debian's) or ours, scripts/zkServer.sh.
# So each run happens in its own network, mount and pid namespaces
# (unshare; needs root): a private loopback, a private /tmp, and every
# server it started is killed when it ends.
#
# Environment:
#   ZKSERVER_BIN      the zkserver binary (default target/debug/zkserver)
#   C_CLIENT_LOGS     a directory to copy the run's logs into (server logs,
#                     the tests' TEST-*.txt client logs)
#   CARGO_TARGET_DIR  where the build is cached (default ./target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC_URL="http://deb.debian.org/debian/pool/main/z/zookeeper/zookeeper_3.8.0.orig.tar.gz"
SRC_SHA512="0bfaf823af115d3d8e589d69312658df359a8c740996acf3c7fc392c8912a588507189831459ede89b0cfd203fac96d3bb2b3f258b894fedc034d7f1331f6d0a"
# Bumped when the build steps below change, so a cached build is redone.
RECIPE=2
COMPAT_H="$ROOT/tests/fixtures/c-client-compat.h"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
KEY="${SRC_SHA512:0:16}-r$RECIPE-$(sha256sum "$COMPAT_H" | cut -c1-8)"
CACHE="$TARGET/c-client/$KEY"
TREE="$CACHE/apache-zookeeper-3.8.0"
CDIR="$TREE/zookeeper-client/zookeeper-client-c"
JUTE_JAR=/usr/share/java/zookeeper-jute.jar
JAVA_ZKSERVER_SH=/usr/share/zookeeper/bin/zkServer.sh

die() { echo "c-client-tests.sh: $*" >&2; exit 2; }

need_tools() {
    local m=() t
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || m+=("$t"); done
    [ "${#m[@]}" -eq 0 ] || die "missing tools: ${m[*]} (scripts/test.sh installs them)"
}

build() {
    need_tools curl sha512sum tar java autoreconf aclocal libtoolize pkg-config make gcc g++
    [ -f "$JUTE_JAR" ] || die "$JUTE_JAR missing (apt-get install zookeeper)"
    [ -f /usr/include/cppunit/TestRunner.h ] || die "cppunit headers missing (apt-get install libcppunit-dev)"
    [ -f /usr/include/openssl/ssl.h ] || die "openssl headers missing (apt-get install libssl-dev)"
    mkdir -p "$CACHE"
    exec 9>"$CACHE.lock"
    flock 9
    if [ -x "$CDIR/zktest-mt" ] && [ -f "$CACHE/built" ]; then
        return 0
    fi
    local tarball="$CACHE/zookeeper_3.8.0.orig.tar.gz"
    if ! echo "$SRC_SHA512  $tarball" | sha512sum -c --status 2>/dev/null; then
        echo "== downloading $SRC_URL" >&2
        curl -fsSL --retry 3 -o "$tarball.part" "$SRC_URL" || die "cannot download $SRC_URL"
        echo "$SRC_SHA512  $tarball.part" | sha512sum -c --status || die "$SRC_URL: sha512 mismatch"
        mv "$tarball.part" "$tarball"
    fi
    rm -rf "$TREE" "$CACHE/built"
    tar -xzf "$tarball" -C "$CACHE" \
        apache-zookeeper-3.8.0/zookeeper-client/zookeeper-client-c \
        apache-zookeeper-3.8.0/zookeeper-jute/src/main/resources/zookeeper.jute
    echo "== generating the C records from zookeeper.jute" >&2
    mkdir -p "$CDIR/generated"
    (cd "$CDIR/generated" && java -cp "$JUTE_JAR" org.apache.jute.compiler.generated.Rcc -l c \
        "$TREE/zookeeper-jute/src/main/resources/zookeeper.jute" >/dev/null)
    echo "== building zktest-mt (autoreconf, configure, make)" >&2
    (
        cd "$CDIR"
        autoreconf -if >autoreconf.log 2>&1 || { tail -20 autoreconf.log >&2; exit 1; }
        # Without SASL, whatever the machine has installed, so that every
        # build has the same tests (the SASL ones need Cyrus SASL).
        ./configure --without-sasl >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
        # The 3.8.0 sources predate OpenSSL 3 and glibc's stricter headers;
        # the compat header, forced into every file, bridges both.
        # ENABLE_XML_OUTPUT is the test driver's own switch for writing
        # tests.xml (each test's name and result).
        make -j"$(nproc)" zktest-mt \
            CFLAGS="-g -O2 -D_GNU_SOURCE -include $COMPAT_H" \
            CXXFLAGS="-g -O2 -include $COMPAT_H -DENABLE_XML_OUTPUT" >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
    ) || die "building zktest-mt failed (logs in $CDIR)"
    touch "$CACHE/built"
}

java_class_path() {
    local j cp=""
    for j in zookeeper-3.8.0 zookeeper-jute slf4j-api slf4j-simple metrics-core commons-cli commons-io snappy-java; do
        [ -f "/usr/share/java/$j.jar" ] || die "/usr/share/java/$j.jar missing (apt-get install zookeeper)"
        cp="$cp:/usr/share/java/$j.jar"
    done
    for j in /usr/share/java/netty-*-4.1.*.Final.jar; do cp="$cp:$j"; done
    echo "${cp#:}"
}

run() {
    local flavor="${1:-}"
    case "$flavor" in
        java) [ -x "$JAVA_ZKSERVER_SH" ] || die "$JAVA_ZKSERVER_SH missing (apt-get install zookeeper)" ;;
        zkserver)
            ZKSERVER_BIN="${ZKSERVER_BIN:-$TARGET/debug/zkserver}"
            [ -x "$ZKSERVER_BIN" ] || die "no zkserver binary at $ZKSERVER_BIN (cargo build, or set ZKSERVER_BIN)"
            export ZKSERVER_BIN
            ;;
        *) die "usage: $0 run {java|zkserver} [TEST ...]" ;;
    esac
    shift
    need_tools unshare ip java openssl keytool ps
    [ "$(id -u)" = 0 ] || die "run needs root (it gives the tests their own network, /tmp and pid namespaces)"
    [ -x "$CDIR/zktest-mt" ] && [ -f "$CACHE/built" ] || build
    if [ -n "${C_CLIENT_LOGS:-}" ]; then
        mkdir -p "$C_CLIENT_LOGS"
        C_CLIENT_LOGS="$(cd "$C_CLIENT_LOGS" && pwd)"
        export C_CLIENT_LOGS
    fi
    CLASSPATH="$(java_class_path)"
    export CLASSPATH
    exec unshare --net --mount --pid --fork --kill-child --mount-proc "$0" __inside "$flavor" "$@"
}

# Copies what the run of TEST left into $C_CLIENT_LOGS/TEST/: the last
# server tests/zkServer.sh started (its log and data directory), the
# ensemble's logs, the client logs.
save_logs() {
    [ -n "${C_CLIENT_LOGS:-}" ] || return 0
    local out="$C_CLIENT_LOGS/$1" d
    mkdir -p "$out"
    cp /tmp/zk.log "$out/zkServer.sh-server.log" 2>/dev/null || true
    cp -r /tmp/zkdata "$out/" 2>/dev/null || true
    cp TEST-*.txt tests.xml "$out/" 2>/dev/null || true
    rm -f TEST-*.txt
    for d in "$ZKROOT"/build/test/test-cppunit/data*; do
        [ -d "$d" ] || continue
        mkdir -p "$out/$(basename "$d")"
        cp "$d"/*.log "$d"/*.out "$out/$(basename "$d")/" 2>/dev/null || true
    done
}

# Gives the run an empty /tmp of its own. The checkout, the build cache,
# the zkserver binary and the log directory may live under /tmp (a clone
# made there): each such top-level directory is bound back in from the
# host's /tmp, reached through a private tmpfs on /mnt.
private_tmp() {
    local keep=() p
    for p in "$ROOT" "$TARGET" "${ZKSERVER_BIN:-}" "${C_CLIENT_LOGS:-}"; do
        case "$p" in /tmp/?*) p="${p#/tmp/}"; keep+=("${p%%/*}") ;; esac
    done
    if [ "${#keep[@]}" -gt 0 ]; then
        mount -t tmpfs c-client-tests-mnt /mnt
        mkdir /mnt/host-tmp
        mount --bind /tmp /mnt/host-tmp
    fi
    mount -t tmpfs -o mode=1777 c-client-tests /tmp
    for p in $(printf '%s\n' "${keep[@]}" | sort -u); do
        mkdir -p "/tmp/$p"
        mount --bind "/mnt/host-tmp/$p" "/tmp/$p"
    done
}

# Runs as pid 1 of the new namespaces: everything it starts dies with it.
inside() {
    local flavor="$1"
    shift
    ip link set lo up
    private_tmp
    local run=/tmp/c-client-run
    mkdir -p "$run/bin" "$run/zkroot/bin"
    # The tests call ./tests/zkServer.sh and write their client logs to
    # the working directory.
    ln -s "$CDIR/tests" "$run/tests"
    if [ "$flavor" = zkserver ]; then
        cp "$ROOT/tests/fixtures/java-shim.sh" "$run/bin/java"
        chmod +x "$run/bin/java"
        export PATH="$run/bin:$PATH"
        printf '#!/bin/sh\nexec %q "$@"\n' "$ROOT/scripts/zkServer.sh" >"$run/zkroot/bin/zkServer.sh"
    else
        printf '#!/bin/sh\nexec %q "$@"\n' "$JAVA_ZKSERVER_SH" >"$run/zkroot/bin/zkServer.sh"
    fi
    chmod +x "$run/zkroot/bin/zkServer.sh"
    export ZKROOT="$run/zkroot"
    cd "$run"
    local rc=0 t
    if [ $# -eq 0 ]; then
        set -- $(sed -n 's/^ *CPPUNIT_TEST_SUITE( *\([A-Za-z0-9_]*\) *).*/\1/p' "$CDIR"/tests/*.cc)
    fi
    for t in "$@"; do
        echo "== $t"
        rm -f tests.xml
        "$CDIR/zktest-mt" "$t" || rc=1
        echo
        if [ -f tests.xml ]; then
            awk '/<FailedTests>/ { s = "FAIL" } /<SuccessfulTests>/ { s = "PASS" } /<Statistics>/ { s = "" }
                 s != "" && match($0, /<Name>[^<]*<\/Name>/) { print s, substr($0, RSTART + 6, RLENGTH - 13) }' tests.xml
        else
            echo "CRASH $t"
            rc=1
        fi
        save_logs "$t"
    done
    return "$rc"
}

case "${1:-}" in
    build) build; echo "$CDIR/zktest-mt" ;;
    run) shift; run "$@" ;;
    __inside) shift; inside "$@" ;;
    *) echo "usage: $0 build | run {java|zkserver} [TEST ...]" >&2; exit 2 ;;
esac
