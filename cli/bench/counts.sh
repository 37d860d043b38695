#!/usr/bin/env bash
# Allocations and instructions per 1 KiB sync send in the broker process, counted by valgrind
# (dhat, callgrind): the figures that do not drift with the machine's load, unlike the CPU
# times of compare.sh. Each count is the whole broker process (all threads) over a run of HI
# messages minus a run of LO messages, divided by HI - LO, so start-up, registration and
# shutdown cancel out. With BASE_BIN the same is counted for a second set of binaries in the
# same run and the ratio printed.
#
# Usage (from the workspace root; needs valgrind: apt-get install valgrind):
#   cargo build --release -p cli -p namesrv -p broker --bins
#   cli/bench/counts.sh                                   # BIN=target/release
#   BASE_BIN=/tmp/old/target/release cli/bench/counts.sh  # and the ratio against those
# Knobs: TOOLS="dhat callgrind", LO=2000, HI=12000, TASKS=64, SIZE=1024.
# Everything listens on 127.0.0.1 only; files go to a temp dir removed at the end.
set -euo pipefail

BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
BASE_BIN=${BASE_BIN:-}
TOOLS=${TOOLS:-dhat callgrind}
LO=${LO:-2000}
HI=${HI:-12000}
TASKS=${TASKS:-64}
SIZE=${SIZE:-1024}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
[ "$HI" -gt "$LO" ] || { echo "HI ($HI) must exceed LO ($LO)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/broker-counts.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A port nothing listens on right now (the kernel's choice for port 0).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

NS="127.0.0.1:$(free_port)"
printf 'listenPort=%s\nbindAddress=127.0.0.1\n' "${NS##*:}" > "$WORK/ns.conf"
"$BIN/namesrv" -c "$WORK/ns.conf" > "$WORK/ns.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do "$BIN/mqadmin" clusterList -n "$NS" >/dev/null 2>&1 && break; sleep 0.2; done

# One broker process under valgrind $2 from binaries $1, sent $3 messages; prints its total
# (heap blocks allocated, or instructions executed).
count() {
    local bin=$1 tool=$2 n=$3 dir
    dir=$(mktemp -d "$WORK/run.XXXXXX")
    cat > "$dir/broker.conf" <<EOF
brokerClusterName=CountCluster
brokerName=count-a
brokerId=0
brokerIP1=127.0.0.1
bindAddress=127.0.0.1
listenPort=0
namesrvAddr=$NS
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
storePathRootDir=$dir/store
autoCreateTopicEnable=true
EOF
    valgrind --tool="$tool" "--$tool-out-file=$dir/out" "$bin/broker" -c "$dir/broker.conf" \
        > "$dir/log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 600); do
        grep -q "register broker to name server OK" "$dir/log" && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; return 1; }
        sleep 0.2
    done
    "$BIN/mqadmin" benchProducer -n "$NS" -t CountTopic -c CountCluster -q 8 -w "$TASKS" \
        -s "$SIZE" -d 0 -m "$n" > "$dir/client.log" 2>&1 || { cat "$dir/client.log" >&2; return 1; }
    grep -q "SEND_OK=$n " "$dir/client.log" || { cat "$dir/client.log" >&2; return 1; }
    kill -TERM "$pid"
    wait "$pid" || true
    if [ "$tool" = callgrind ]; then
        grep -o "Collected : [0-9]*" "$dir/log" | grep -o "[0-9]*$"
    else
        grep -o "Total: *[0-9,]* bytes in [0-9,]* blocks" "$dir/log" | awk '{print $5}' | tr -d ,
    fi
}

per_send() { # binaries, tool: the count per send
    local lo hi
    lo=$(count "$1" "$2" "$LO")
    hi=$(count "$1" "$2" "$HI")
    awk -v a="$lo" -v b="$hi" -v n=$((HI - LO)) 'BEGIN {printf "%.1f", (b - a) / n}'
}

echo "== $(nproc) cores, $(date -u +%FT%TZ); $TASKS tasks x $SIZE B sync sends, runs of $LO and $HI"
echo "== new: $BIN${BASE_BIN:+; old: $BASE_BIN}"
for tool in $TOOLS; do
    case $tool in
        dhat) name=allocations_per_send ;;
        callgrind) name=instructions_per_send ;;
        *) echo "unknown tool $tool (dhat, callgrind)" >&2; exit 1 ;;
    esac
    new=$(per_send "$BIN" "$tool")
    if [ -n "$BASE_BIN" ]; then
        old=$(per_send "$BASE_BIN" "$tool")
        printf '%-24s %12s %12s %6s\n' "$name" "$old" "$new" \
            "$(awk -v a="$old" -v b="$new" 'BEGIN {printf "%.3f", b / a}')"
    else
        printf '%-24s %12s\n' "$name" "$new"
    fi
done
