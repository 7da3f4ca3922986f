#!/usr/bin/env bash
# Fault-injection runs with a linearizability check (tests/jepsen/), one
# 3-node ensemble at a time, printing per run: operations, whether the
# history is linearizable, acknowledged writes lost, and per fault the
# longest time without a successful write after it healed.
#
#   scripts/jepsen.sh [SECONDS] [FAULTS] [FLAVOURS...]
#
# SECONDS  how long faults keep coming per run (default 180)
# FAULTS   comma-separated, injected in turn: kill, stop, isolate-leader,
#          split, bridge (default: all of them)
# FLAVOURS one run each, sids 1..3 in order (default: zkserver x3,
#          java x3, java,java,zkserver, java,zkserver,zkserver)
#
# With JEPSEN_LOGS=DIR, each run keeps its nodes' logs, its fault schedule
# and its history (with the node and session of every operation) under
# DIR/FLAVOURS; a run that is not linearizable keeps them anyway, in a
# temporary directory it names.
#
# Needs root (iptables; nodes run as their own uids). Every rule it adds
# carries the comment "zkjepsen" and is removed on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-180}
faults=${2:-kill,stop,isolate-leader,split,bridge}
shift $(( $# > 2 ? 2 : $# ))
if [ $# -gt 0 ]; then
    sets=("$@")
else
    sets=(zkserver,zkserver,zkserver java,java,java java,java,zkserver java,zkserver,zkserver)
fi

cleanup() {
    for table in filter nat; do
        iptables -w -t "$table" -S | grep -- '--comment zkjepsen' | sed 's/^-A /-D /' |
            while read -r rule; do eval "iptables -w -t $table $rule"; done
    done
}
trap cleanup EXIT INT TERM

cargo build --quiet --test fault_injection --bin zkserver
status=0
for flavours in "${sets[@]}"; do
    echo "== $flavours, $secs s, faults $faults"
    logs=()
    [ -n "${JEPSEN_LOGS:-}" ] && logs=(JEPSEN_LOGS="$JEPSEN_LOGS/$flavours")
    env "${logs[@]}" JEPSEN_FLAVORS=$flavours JEPSEN_FAULTS=$faults JEPSEN_SECS=$secs JEPSEN_LABEL=$flavours \
        cargo test --quiet --test fault_injection configured_run -- --ignored --nocapture --test-threads 1 ||
        status=1
done
exit $status
