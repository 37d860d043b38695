#!/usr/bin/env bash
# Loopback benchmark of our namesrv + broker with `mqadmin benchProducer` / `benchConsumer`
# (issue 4's figures): 1 KiB sync sends with 1 and 64 tasks under ASYNC_FLUSH and SYNC_FLUSH
# (msgs/s, p50/p99/p999/max), consume throughput, and the broker's VmRSS idle and under load.
# A raw `dd ... conv=fdatasync` write on the same disk is the same-run baseline.
#
# Usage (from the workspace root):
#   cargo build --release -p cli -p namesrv -p broker --bins
#   BIN=target/release cli/bench/broker-bench.sh            # BENCH_SECS=10 by default
# Everything listens on 127.0.0.1 only; files go to a temp dir removed at the end.
set -euo pipefail

BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
SECS=${BENCH_SECS:-10}
NS_PORT=${NS_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
WORK=$(mktemp -d /tmp/broker-bench.XXXXXX)
NS="127.0.0.1:${NS_PORT}"
NS_PID=""
BROKER_PID=""

cleanup() {
    [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null || true
    [ -n "$NS_PID" ] && kill "$NS_PID" 2>/dev/null && wait "$NS_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Samples the broker's VmRSS every 200 ms into $1 until killed.
sample_rss() {
    while kill -0 "$BROKER_PID" 2>/dev/null; do rss_kib "$BROKER_PID" >> "$1"; sleep 0.2; done
}

max_of() { sort -n "$1" | tail -1; }

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== raw disk baseline: 256 MiB sequential write + fdatasync in $WORK"
dd if=/dev/zero of="$WORK/raw" bs=1M count=256 conv=fdatasync 2>&1 | tail -1
rm -f "$WORK/raw"

mkdir -p "$WORK/ns"
cat > "$WORK/ns/namesrv.conf" <<CONF
bindAddress=127.0.0.1
listenPort=${NS_PORT}
kvConfigPath=${WORK}/ns/kvConfig.json
configStorePath=${WORK}/ns/namesrv.properties
CONF
"$BIN/namesrv" -c "$WORK/ns/namesrv.conf" > "$WORK/ns/out.log" 2>&1 &
NS_PID=$!

start_broker() { # $1 = flushDiskType
    local dir="$WORK/broker-$1"
    mkdir -p "$dir"
    cat > "$dir/broker.conf" <<CONF
brokerClusterName=BenchCluster
brokerName=bench-a
brokerId=0
brokerIP1=127.0.0.1
bindAddress=127.0.0.1
listenPort=${BROKER_PORT}
namesrvAddr=${NS}
brokerRole=ASYNC_MASTER
flushDiskType=$1
storePathRootDir=${dir}/store
autoCreateTopicEnable=true
CONF
    "$BIN/broker" -c "$dir/broker.conf" > "$dir/out.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 100); do
        if "$BIN/mqadmin" clusterList -n "$NS" 2>/dev/null | grep -q bench-a; then return 0; fi
        sleep 0.2
    done
    echo "broker did not register; its log:" >&2
    cat "$dir/out.log" >&2
    exit 1
}

stop_broker() {
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}

for FLUSH in ASYNC_FLUSH SYNC_FLUSH; do
    echo
    echo "================ ${FLUSH} ================"
    start_broker "$FLUSH"
    sleep 2
    echo "broker pid ${BROKER_PID}: idle VmRSS $(rss_kib "$BROKER_PID") KiB"
    TOPIC="Bench1K_${FLUSH}"
    for W in 1 64; do
        echo "--- benchProducer: 1 KiB sync, ${W} task(s), ${SECS} s"
        : > "$WORK/rss"
        sample_rss "$WORK/rss" & SAMPLER=$!
        "$BIN/mqadmin" benchProducer -n "$NS" -t "$TOPIC" -c BenchCluster -q 8 \
            -w "$W" -s 1024 -d "$SECS"
        kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
        echo "broker VmRSS under load: max $(max_of "$WORK/rss") KiB"
    done
    echo "--- benchConsumer: everything stored in ${TOPIC}"
    : > "$WORK/rss"
    sample_rss "$WORK/rss" & SAMPLER=$!
    "$BIN/mqadmin" benchConsumer -n "$NS" -t "$TOPIC" -g "bench_${FLUSH}"
    kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
    echo "broker VmRSS while consuming: max $(max_of "$WORK/rss") KiB"
    sleep 3
    echo "broker VmRSS idle after the runs: $(rss_kib "$BROKER_PID") KiB"
    stop_broker
done
