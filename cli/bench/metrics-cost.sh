#!/usr/bin/env bash
# What the broker's Prometheus metrics cost (issue 18): `mqadmin benchProducer` against namesrv and
# broker processes on loopback, the broker alternately with metricsExporterType=DISABLE and PROM
# (scraped every second, far more often than Prometheus would), ROUNDS rounds interleaved so
# both see the same machine load; a fresh broker and store per run. Prints each run's msgs/s and
# the median ratio on/off.
#
# Usage (from the workspace root):
#   cargo build --release -p cli -p namesrv -p broker --bins
#   BIN=target/release cli/bench/metrics-cost.sh     # BENCH_SECS=10 ROUNDS=3 TASKS=16 by default
# Everything listens on 127.0.0.1 only; files go to a temp dir removed at the end.
set -euo pipefail

BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
SECS=${BENCH_SECS:-10}
ROUNDS=${ROUNDS:-3}
TASKS=${TASKS:-16}
FLUSH=${FLUSH:-ASYNC_FLUSH}
NS_PORT=${NS_PORT:-19886}
BROKER_PORT=${BROKER_PORT:-20941}
METRICS_PORT=${METRICS_PORT:-20990}
WORK=$(mktemp -d /tmp/metrics-cost.XXXXXX)
NS="127.0.0.1:${NS_PORT}"
NS_PID=""
BROKER_PID=""
SCRAPER=""

cleanup() {
    [ -n "$SCRAPER" ] && kill "$SCRAPER" 2>/dev/null && wait "$SCRAPER" 2>/dev/null || true
    [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null || true
    [ -n "$NS_PID" ] && kill "$NS_PID" 2>/dev/null && wait "$NS_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
mkdir -p "$WORK/ns"
cat > "$WORK/ns/namesrv.conf" <<CONF
bindAddress=127.0.0.1
listenPort=${NS_PORT}
kvConfigPath=${WORK}/ns/kvConfig.json
configStorePath=${WORK}/ns/namesrv.properties
CONF
"$BIN/namesrv" -c "$WORK/ns/namesrv.conf" > "$WORK/ns/out.log" 2>&1 &
NS_PID=$!

run() { # $1 = DISABLE | PROM, $2 = run number; prints msgs/s
    local dir="$WORK/broker-$1-$2"
    mkdir -p "$dir"
    cat > "$dir/broker.conf" <<CONF
brokerClusterName=BenchCluster
brokerName=bench-m
brokerId=0
brokerIP1=127.0.0.1
bindAddress=127.0.0.1
listenPort=${BROKER_PORT}
namesrvAddr=${NS}
brokerRole=ASYNC_MASTER
flushDiskType=${FLUSH}
storePathRootDir=${dir}/store
autoCreateTopicEnable=true
metricsExporterType=$1
metricsPromExporterHost=127.0.0.1
metricsPromExporterPort=${METRICS_PORT}
CONF
    "$BIN/broker" -c "$dir/broker.conf" > "$dir/out.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 100); do
        if "$BIN/mqadmin" clusterList -n "$NS" 2>/dev/null | grep -q bench-m; then break; fi
        sleep 0.2
    done
    if [ "$1" = PROM ]; then
        ( while true; do curl -sf "http://127.0.0.1:${METRICS_PORT}/metrics" > /dev/null || true; sleep 1; done ) &
        SCRAPER=$!
    fi
    "$BIN/mqadmin" benchProducer -n "$NS" -t "Cost$2$1" -c BenchCluster -q 8 -w "$TASKS" -s 1024 \
        -d "$SECS" > "$dir/bench.out" 2>&1
    if [ -n "$SCRAPER" ]; then kill "$SCRAPER" 2>/dev/null; wait "$SCRAPER" 2>/dev/null || true; SCRAPER=""; fi
    if [ "$1" = PROM ]; then
        curl -sf "http://127.0.0.1:${METRICS_PORT}/metrics" | grep -E '^rocketmq_broker_messages_in_total' >&2 || true
    fi
    kill "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true; BROKER_PID=""
    # The next broker binds the same ports: wait for them to be released.
    sleep 1
    grep -Eo '^TPS: [0-9]+' "$dir/bench.out" | awk '{print $2}'
}

off=(); on=(); ratio=()
for r in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first, so neither always runs on the warmer machine.
    if [ $((r % 2)) = 1 ]; then a=$(run DISABLE "$r"); b=$(run PROM "$r"); else b=$(run PROM "$r"); a=$(run DISABLE "$r"); fi
    q=$(awk -v a="$b" -v b="$a" 'BEGIN {printf "%.3f", a/b}')
    echo "round $r: metrics off ${a} msgs/s, on ${b} msgs/s, on/off ${q}"
    off+=("$a"); on+=("$b"); ratio+=("$q")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "median: off $(median "${off[@]}") msgs/s, on $(median "${on[@]}") msgs/s; median of the rounds' on/off: $(median "${ratio[@]}")"
