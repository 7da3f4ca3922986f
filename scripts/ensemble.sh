#!/usr/bin/env bash
# Starts, stops or inspects a three-node zkserver ensemble on localhost,
# from conf/zoo1.cfg .. conf/zoo3.cfg (client ports 2181-2183).
#
#   scripts/ensemble.sh start    build the release binary, write each node's
#                                myid, start the three nodes in the background
#   scripts/ensemble.sh status   each node's pid and its `srvr` answer
#   scripts/ensemble.sh stop     SIGTERM every node and wait for it to exit
#
# Data, logs and pid files go to ./data/ensemble/node<N>/ (node.log, node.pid).
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=(1 2 3)
BIN=target/release/zkserver

node_dir() { echo "data/ensemble/node$1"; }

running_pid() {
    local pidfile
    pidfile="$(node_dir "$1")/node.pid"
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# `srvr` on 127.0.0.1:<port>, through bash's /dev/tcp (no nc needed).
srvr() {
    local port=$1
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'srvr' >&3
    timeout 2 cat <&3 || true
    exec 3<&- 3>&-
}

start() {
    cargo build --release --bin zkserver
    for n in "${NODES[@]}"; do
        local dir
        dir="$(node_dir "$n")"
        mkdir -p "$dir"
        if pid="$(running_pid "$n")"; then
            echo "node $n already running (pid $pid)"
            continue
        fi
        echo "$n" > "$dir/myid"
        nohup "$BIN" "conf/zoo$n.cfg" > "$dir/node.log" 2>&1 &
        echo $! > "$dir/node.pid"
        echo "node $n started (pid $!, client port 218$n, log $dir/node.log)"
    done
}

stop() {
    for n in "${NODES[@]}"; do
        if pid="$(running_pid "$n")"; then
            kill -TERM "$pid"
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                echo "node $n (pid $pid) did not stop in 10 s; killing it"
                kill -KILL "$pid"
            fi
            echo "node $n stopped"
        else
            echo "node $n not running"
        fi
        rm -f "$(node_dir "$n")/node.pid"
    done
}

status() {
    for n in "${NODES[@]}"; do
        if pid="$(running_pid "$n")"; then
            echo "== node $n (pid $pid, client port 218$n)"
            srvr "218$n" || echo "(no answer on port 218$n)"
        else
            echo "== node $n not running"
        fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
