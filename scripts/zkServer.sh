#!/usr/bin/env bash
# Starts, stops and probes a zkserver node the way Apache ZooKeeper's
# bin/zkServer.sh does, with the same commands, environment and files, so
# that scripts and runbooks written for Java keep working.
#
#   scripts/zkServer.sh [--config CONFDIR] {start|start-foreground|stop|restart|status|print-cmd|version} [CFG]
#
# Environment, as Java's zkEnv.sh/zkServer.sh read it:
#   ZOOCFGDIR        configuration directory (default: ../conf beside this script)
#   ZOOCFG           configuration file name in ZOOCFGDIR (default zoo.cfg);
#                    a second argument names it too (a path outside ZOOCFGDIR is taken as given)
#   ZOO_LOG_DIR      log directory (default: ../logs beside this script)
#   ZOO_LOG_FILE     log file name (default zookeeper-$USER-server-$HOSTNAME.log)
#   ZOOPIDFILE       pid file (default: dataDir/zookeeper_server.pid)
#   SERVER_JVMFLAGS, JVMFLAGS
#                    their -Dkey=value flags become zkserver's -D properties;
#                    other JVM flags (-Xmx, -XX:...) mean nothing to zkserver
#                    and are named on stderr
#   ZOO_DATADIR_AUTOCREATE_DISABLE
#                    refuse to start without an initialized data directory
#   ZKSERVER_BIN     the zkserver binary (default: target/release/zkserver
#                    beside this script, else zkserver on PATH)
# ZOOCFGDIR/zookeeper-env.sh and ZOOCFGDIR/java.env are sourced if present.
#
# `start` runs the server in the background with its log rolled in
# ZOO_LOG_DIR/ZOO_LOG_FILE (anything it prints before the log is set up
# goes to ZOO_LOG_DIR/zookeeper-$USER-server-$HOSTNAME.out); `start-foreground`
# logs to the console. `status` asks the client port for `srvr` and prints
# its Mode line; it exits 1 when nothing answers.
set -uo pipefail

ZOOBINDIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ZOO_PREFIX="$(dirname "$ZOOBINDIR")"

if [ $# -gt 1 ] && [ "$1" = "--config" ]; then
    ZOOCFGDIR="$2"
    shift 2
fi
ZOOCFGDIR="${ZOOCFGDIR:-$ZOO_PREFIX/conf}"
[ -f "$ZOOCFGDIR/zookeeper-env.sh" ] && . "$ZOOCFGDIR/zookeeper-env.sh"
[ -f "$ZOOCFGDIR/java.env" ] && . "$ZOOCFGDIR/java.env"
ZOOCFG="$ZOOCFGDIR/${ZOOCFG:-zoo.cfg}"
if [ -n "${2:-}" ]; then
    ZOOCFG="$ZOOCFGDIR/$2"
    [ "$(dirname "$ZOOCFG")" = "$ZOOCFGDIR" ] || ZOOCFG="$2"
    [ -f "$ZOOCFG" ] || ZOOCFG="$2"
fi
ZOO_LOG_DIR="${ZOO_LOG_DIR:-$ZOO_PREFIX/logs}"
ZOO_USER="${USER:-$(id -un)}"
ZOO_HOST="${HOSTNAME:-$(hostname)}"
ZOO_LOG_FILE="${ZOO_LOG_FILE:-zookeeper-$ZOO_USER-server-$ZOO_HOST.log}"
DAEMON_OUT="$ZOO_LOG_DIR/zookeeper-$ZOO_USER-server-$ZOO_HOST.out"

if [ -n "${ZKSERVER_BIN:-}" ]; then
    ZKSERVER="$ZKSERVER_BIN"
elif [ -x "$ZOO_PREFIX/target/release/zkserver" ]; then
    ZKSERVER="$ZOO_PREFIX/target/release/zkserver"
else
    ZKSERVER="$(command -v zkserver || true)"
fi
if [ -z "$ZKSERVER" ] || [ ! -x "$ZKSERVER" ]; then
    echo "zkServer.sh: no zkserver binary (set ZKSERVER_BIN, or run: cargo build --release)" >&2
    exit 1
fi

# The -D flags of the JVM flag variables, as zkserver arguments.
DEFINES=()
for flag in ${SERVER_JVMFLAGS:-} ${JVMFLAGS:-}; do
    case "$flag" in
        -D?*=*) DEFINES+=("$flag") ;;
        *) echo "zkServer.sh: JVM flag $flag has no meaning for zkserver; not passed" >&2 ;;
    esac
done

# The value of KEY in FILE, as Java's script greps it: the first line
# starting with KEY followed by '=' or a space.
cfg_value() {
    grep -E "^[[:space:]]*$1[[:space:]]*=" "$2" 2>/dev/null | head -n 1 | sed -e 's/^[^=]*=//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

echo "Using config: $ZOOCFG" >&2
ZOO_DATADIR="$(cfg_value dataDir "$ZOOCFG")"
ZOO_DATALOGDIR="$(cfg_value dataLogDir "$ZOOCFG")"

AUTOCREATE=()
if [ -n "${ZOO_DATADIR_AUTOCREATE_DISABLE:-}" ]; then
    if [ ! -d "$ZOO_DATADIR/version-2" ]; then
        echo "ZooKeeper data directory is missing at $ZOO_DATADIR fix the path or run initialize"
        exit 1
    fi
    if [ -n "$ZOO_DATALOGDIR" ] && [ ! -d "$ZOO_DATALOGDIR/version-2" ]; then
        echo "ZooKeeper txnlog directory is missing at $ZOO_DATALOGDIR fix the path or run initialize"
        exit 1
    fi
    AUTOCREATE=(-Dzookeeper.datadir.autocreate=false)
fi

if [ -z "${ZOOPIDFILE:-}" ]; then
    [ -n "$ZOO_DATADIR" ] && mkdir -p "$ZOO_DATADIR"
    ZOOPIDFILE="$ZOO_DATADIR/zookeeper_server.pid"
else
    mkdir -p "$(dirname "$ZOOPIDFILE")"
fi
mkdir -p "$ZOO_LOG_DIR"

LOG_DEFINES=("-Dzookeeper.log.dir=$ZOO_LOG_DIR" "-Dzookeeper.log.file=$ZOO_LOG_FILE")

running_pid() {
    [ -f "$ZOOPIDFILE" ] || return 1
    local pid
    pid="$(cat "$ZOOPIDFILE")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The client address and port `status` asks: clientPortAddress/clientPort,
# else this server's `server.<myid>=...;[address:]port` line (in zoo.cfg or
# its dynamic config file), else the secure port.
client_endpoint() {
    local address port spec myid dyn
    address="$(cfg_value clientPortAddress "$ZOOCFG")"
    port="$(cfg_value clientPort "$ZOOCFG")"
    SSL=false
    if ! [[ "$port" =~ ^[0-9]+$ ]]; then
        port=""
        myid="$(cat "$ZOO_DATADIR/myid" 2>/dev/null)"
        if ! [[ "$myid" =~ ^[0-9]+$ ]]; then
            echo "myid could not be determined, will not able to locate clientPort in the server configs."
        else
            spec="$(cfg_value "server\.$myid" "$ZOOCFG")"
            if [[ "$spec" != *";"* ]]; then
                echo "Client port not found in static config file. Looking in dynamic config file."
                dyn="$(cfg_value dynamicConfigFile "$ZOOCFG")"
                spec="$(cfg_value "server\.$myid" "$dyn")"
            fi
            if [[ "$spec" != *";"* ]]; then
                echo "Client port not found in the server configs"
            else
                spec="${spec##*;}"
                if [[ "$spec" =~ ^\[(.*)\]:([0-9]+)$ ]]; then
                    address="${BASH_REMATCH[1]}" port="${BASH_REMATCH[2]}"
                elif [[ "$spec" =~ ^(.*):([0-9]+)$ ]]; then
                    address="${BASH_REMATCH[1]}" port="${BASH_REMATCH[2]}"
                else
                    port="$spec"
                fi
            fi
        fi
    fi
    if [ -z "$port" ]; then
        echo "Client port not found. Looking for secureClientPort in the static config."
        port="$(cfg_value secureClientPort "$ZOOCFG")"
        if [ -z "$port" ]; then
            echo "Unable to find either secure or unsecure client port in any configs. Terminating."
            exit 1
        fi
        SSL=true
        address="$(cfg_value secureClientPortAddress "$ZOOCFG")"
    fi
    [ -n "$address" ] || address=localhost
    CLIENT_ADDRESS="$address" CLIENT_PORT="$port"
}

# Sends a four-letter word and prints the answer (bash's /dev/tcp, so the
# script needs nothing but bash).
four_letter() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf %s "$3" >&3 && cat <&3' _ "$1" "$2" "$3" 2>/dev/null
}

command_line() {
    CMD=("$ZKSERVER" "${AUTOCREATE[@]}" "$@" "${DEFINES[@]}" "$ZOOCFG")
}

case "${1:-}" in
start)
    echo -n "Starting zookeeper ... "
    if pid="$(running_pid)"; then
        echo "zkserver already running as process $pid."
        exit 1
    fi
    command_line "${LOG_DEFINES[@]}"
    nohup "${CMD[@]}" >"$DAEMON_OUT" 2>&1 </dev/null &
    pid=$!
    if ! echo -n "$pid" >"$ZOOPIDFILE"; then
        echo "FAILED TO WRITE PID"
        exit 1
    fi
    # An unusable configuration makes zkserver exit at once: give it a
    # second, as Java's script does, but answer as soon as it has failed.
    for _ in $(seq 20); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo STARTED
    else
        rm -f "$ZOOPIDFILE"
        echo "FAILED TO START (see $DAEMON_OUT)"
        exit 1
    fi
    ;;
start-foreground)
    command_line
    if [ -n "${ZOO_NOEXEC:-}" ]; then
        "${CMD[@]}"
    else
        exec "${CMD[@]}"
    fi
    ;;
print-cmd)
    command_line "${LOG_DEFINES[@]}"
    printf '%q ' "${CMD[@]}"
    printf '> %q 2>&1 < /dev/null\n' "$DAEMON_OUT"
    ;;
stop)
    echo -n "Stopping zookeeper ... "
    if [ ! -f "$ZOOPIDFILE" ]; then
        echo "no zookeeper to stop (could not find file $ZOOPIDFILE)"
        exit 0
    fi
    pid="$(cat "$ZOOPIDFILE")"
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        # zkserver shuts down on SIGTERM; wait for it, as a service manager
        # would, instead of Java's fixed second.
        for _ in $(seq 600); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "process $pid still running after 30 s"
            exit 1
        fi
    fi
    rm -f "$ZOOPIDFILE"
    echo STOPPED
    ;;
restart)
    shift
    "$0" stop "$@"
    "$0" start "$@"
    ;;
status)
    client_endpoint
    echo "Client port found: $CLIENT_PORT. Client address: $CLIENT_ADDRESS. Client SSL: $SSL."
    STAT="$(four_letter "$CLIENT_ADDRESS" "$CLIENT_PORT" srvr | grep Mode)"
    if [ -z "$STAT" ]; then
        echo "Error contacting service. It is probably not running."
        exit 1
    fi
    echo "$STAT"
    ;;
version)
    "$ZKSERVER" --version
    ;;
*)
    echo "Usage: $0 [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd}" >&2
    exit 1
    ;;
esac
