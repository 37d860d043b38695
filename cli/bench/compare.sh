#!/usr/bin/env bash
# Same-run comparison of this checkout's broker against a previous version (issue 23).
#
# The baseline is built from a `git worktree` of BASE_REV (default: `git merge-base HEAD main`,
# the main this branch started from) in release mode into its own target dir under
# /var/tmp/rmq-bench-baseline/<rev>/ (the worktree is removed after the build; a built baseline
# is reused). Then OLD and NEW namesrv + broker processes run alternately on loopback (a fresh
# pair, fresh ports and a fresh store per side and round), each driven by the same client, this
# checkout's `mqadmin` (so the ratios are the servers'; CLIENT=old uses the baseline's mqadmin
# for the baseline side, whose latency phase is skipped when that mqadmin lacks `-r`):
#   send     64 tasks x 1 KiB sync sends, ASYNC_FLUSH, BENCH_SECS s: msgs/s, p99/p999, the
#            broker's CPU per message (utime+stime from /proc/<pid>/stat / messages sent) and
#            the client's (`mqadmin`'s user+system time, from getrusage of its waiting parent)
#   batch    BATCH_TASKS tasks sending batches of 32 x 1 KiB: msgs/s and CPU per message
#   consume  benchConsumer catching up the backlog the two phases above stored: msgs/s
#   latency  64 tasks paced at half of this side's own `send` throughput: p50/p99/p999
#   probe    the same pacing with GET_MAX_OFFSET requests instead of sends (`benchProducer -x`:
#            no body, no store), the round-trip floor of this machine, client and broker at
#            that rate; `half_p99_x_probe` and `half_p999_x_probe` are how many times the
#            send's percentiles exceed it (skipped when the client lacks `-x`)
#   auto     with AUTO_BATCH=1: `send` again with the producer's auto-batching (`-B`), so
#            the broker sees SEND_BATCH_MESSAGE requests of concurrent sends
# Finally the medians per side and the ratios new/old.
#
# Usage (from the workspace root):
#   cli/bench/compare.sh                       # BENCH_SECS=5 ROUNDS=2 by default
#   BASE_REV=v0.1.0 ROUNDS=3 BENCH_SECS=10 cli/bench/compare.sh
#   SKIP_BUILD=1 NEW_BIN=target/release cli/bench/compare.sh   # binaries already built
#   FLUSH=SYNC_FLUSH cli/bench/compare.sh      # the broker's flushDiskType (ASYNC_FLUSH default)
#   BASE_DIR=<dir with target/release -> this checkout's> OLD_FLUSH=ASYNC_FLUSH FLUSH=SYNC_FLUSH \
#     cli/bench/compare.sh                     # SYNC_FLUSH against ASYNC_FLUSH, same binaries
#   PERF_SIDE=new cli/bench/compare.sh         # also `perf record -g` that side's broker
#                                              # during the first round's send phase
#                                              # (PERF_OUT file, PERF_ARGS options)
#   PERF_SIDE=new PERF_PHASE=consume PERF_WHO=client cli/bench/compare.sh
#                                              # profile another phase, or its client
#   PULL_BATCH=256 cli/bench/compare.sh        # benchConsumer's messages per pull (-p)
#   QUEUES=16 cli/bench/compare.sh             # the topic's queues (8; one pull in flight each)
#   SIDES=new cli/bench/compare.sh             # only one side (profiling, quick checks)
#   SLAVE=1 BASE_DIR=<dir whose target/release is this checkout's> OLD_ROLE=ASYNC_MASTER \
#     ROLE=SYNC_MASTER cli/bench/compare.sh    # SYNC_MASTER against ASYNC_MASTER, each with a
#                                              # slave process (brokerId 1) in sync before the
#                                              # phases; its CPU per message is recorded too
#   MEMORY_LIMIT=2G cli/bench/compare.sh      # each broker process in a memory control group
#                                              # of its own with this limit, as in a pod with
#                                              # a memory limit (root; cgroup v1 or v2); the
#                                              # groups are removed at the end
#   THREADS=1 cli/bench/compare.sh             # also the broker's CPU per message and
#                                              # context switches per message by thread name
#                                              # (`send_cpu_us_per_msg@store-flush`, all
#                                              # tokio workers summed as one name, ...)
#   AUTO_BATCH=1 cli/bench/compare.sh          # last, TASKS tasks sending as in `send`
#                                              # through the producer's auto-batching (-B):
#                                              # the `auto` phase
#   PREFILL=3000000 MEMORY_LIMIT=2G cli/bench/compare.sh
#                                              # first 3 M messages in batches, not
#                                              # measured: past its limit, the group's page
#                                              # cache is recycled, as in a broker that has
#                                              # run a while, instead of fresh memory (which
#                                              # a VM's host may have to back again)
# Everything listens on 127.0.0.1 only; each phase is bounded by BENCH_SECS (the consume by
# 10 x BENCH_SECS); files go to a temp dir removed at the end.
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
cd "$ROOT"
SECS=${BENCH_SECS:-5}
ROUNDS=${ROUNDS:-2}
TASKS=${TASKS:-64}
BATCH=${BATCH:-32}
BATCH_TASKS=${BATCH_TASKS:-16}
QUEUES=${QUEUES:-8}
SIZE=${SIZE:-1024}
FLUSH=${FLUSH:-ASYNC_FLUSH}
OLD_FLUSH=${OLD_FLUSH:-$FLUSH}
ROLE=${ROLE:-ASYNC_MASTER}
OLD_ROLE=${OLD_ROLE:-$ROLE}
SLAVE=${SLAVE:-}
CLIENT=${CLIENT:-new}
BASE_REV=$(git rev-parse --short=12 "${BASE_REV:-$(git merge-base HEAD main)}")
BASE_DIR=${BASE_DIR:-/var/tmp/rmq-bench-baseline/${BASE_REV}}
OLD_BIN="$BASE_DIR/target/release"
NEW_BIN=${NEW_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
WORK=$(mktemp -d /tmp/broker-compare.XXXXXX)
PIDS=()
TCK=$(getconf CLK_TCK)

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -z "${MEMORY_LIMIT:-}" ] || remove_groups
    rm -rf "$WORK"
}
trap cleanup EXIT

have_bins() { [ -x "$1/broker" ] && [ -x "$1/namesrv" ] && [ -x "$1/mqadmin" ]; }

# ---- builds -------------------------------------------------------------------------------------
if ! have_bins "$OLD_BIN"; then
    echo "== building the baseline ${BASE_REV} into ${BASE_DIR}/target"
    mkdir -p "$BASE_DIR"
    SRC="$BASE_DIR/src"
    git worktree remove --force "$SRC" 2>/dev/null || rm -rf "$SRC"
    git worktree add --detach "$SRC" "$BASE_REV" >/dev/null
    (cd "$SRC" && nice -n 10 cargo build --release -p broker -p namesrv -p cli --bins \
        --target-dir "$BASE_DIR/target") || { git worktree remove --force "$SRC"; exit 1; }
    git worktree remove --force "$SRC"
fi
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "== building this checkout (release)"
    nice -n 10 cargo build --release -p broker -p namesrv -p cli --bins
fi
have_bins "$NEW_BIN" || { echo "no binaries in $NEW_BIN" >&2; exit 1; }

# ---- helpers ------------------------------------------------------------------------------------
# A port nothing listens on right now (the kernel's choice for port 0).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cpu_ticks() { # utime + stime of a process, in clock ticks
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

thread_use() { # per thread name of process $1: CPU ticks and context switches so far, summed
    python3 -c 'import os, sys
use = {}
d = "/proc/%s/task" % sys.argv[1]
for t in os.listdir(d):
    try:
        name = open("%s/%s/comm" % (d, t)).read().strip().replace(" ", "_")
        stat = open("%s/%s/stat" % (d, t)).read().rsplit(")", 1)[1].split()
        csw = sum(int(l.split()[1]) for l in open("%s/%s/status" % (d, t)) if "ctxt_switches" in l)
    except (OSError, IndexError, ValueError):
        continue  # a thread that ended meanwhile
    ticks, switches = use.get(name, (0, 0))
    use[name] = (ticks + int(stat[11]) + int(stat[12]), switches + csw)
for name, (ticks, switches) in sorted(use.items()):
    print(name, ticks, switches)' "$1"
}

min_faults() { # minor page faults of a process so far
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $8}'
}

with_cpu() { # $1 file to write the command's user + system seconds to; runs the rest
    local cpu_file=$1
    shift
    python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "$cpu_file" "$@"
}

field() { # $1 file, $2 regex before the number
    grep -oE "$2 [0-9.]+" "$1" | tail -1 | awk '{print $NF}'
}

NS=""
NS_PID=""
BROKER_PID=""
SLAVE_PID=""

start_pair() { # $1 = bin dir, $2 = work dir, $3 = flushDiskType, $4 = brokerRole
    local bin=$1 dir=$2 flush=$3 role=$4
    mkdir -p "$dir/ns" "$dir/broker"
    local ns_port
    ns_port=$(free_port)
    NS="127.0.0.1:${ns_port}"
    cat > "$dir/ns/namesrv.conf" <<CONF
bindAddress=127.0.0.1
listenPort=${ns_port}
kvConfigPath=${dir}/ns/kvConfig.json
configStorePath=${dir}/ns/namesrv.properties
CONF
    "$bin/namesrv" -c "$dir/ns/namesrv.conf" > "$dir/ns/out.log" 2>&1 &
    NS_PID=$!
    PIDS+=("$NS_PID")
    local port
    port=$(free_port)
    broker_conf "$dir/broker" 0 "$role" "$flush" "$port" > "$dir/broker/broker.conf"
    limited "$dir/broker" "$bin/broker" -c "$dir/broker/broker.conf" > "$dir/broker/out.log" 2>&1 &
    BROKER_PID=$!
    PIDS+=("$BROKER_PID")
    poll_or_exit 100 "broker did not register" "$dir/broker/out.log" registered
    [ -n "$SLAVE" ] || return 0
    mkdir -p "$dir/slave"
    broker_conf "$dir/slave" 1 SLAVE "$flush" "$(free_port)" > "$dir/slave/broker.conf"
    limited "$dir/slave" "$bin/broker" -c "$dir/slave/broker.conf" > "$dir/slave/out.log" 2>&1 &
    SLAVE_PID=$!
    PIDS+=("$SLAVE_PID")
    # The phases start once the master counts the slave in sync (a SYNC_MASTER answers
    # SLAVE_NOT_AVAILABLE until then).
    poll_or_exit 150 "the slave did not get in sync" "$dir/slave/out.log" slave_in_sync "$port"
}

# MEMORY_LIMIT: one memory control group per broker process, named after its work dir ($1),
# which the command ($2...) joins before it starts (the pid stays the command's).
limited() {
    local dir=$1
    shift
    [ -n "${MEMORY_LIMIT:-}" ] || exec "$@"
    local base=/sys/fs/cgroup limit_file=memory.max
    if [ -d /sys/fs/cgroup/memory ]; then base=/sys/fs/cgroup/memory limit_file=memory.limit_in_bytes; fi
    local group
    group="$base/rmq-compare-$(basename "$(dirname "$dir")")-$(basename "$dir")"
    mkdir -p "$group" && echo "$MEMORY_LIMIT" > "$group/$limit_file" || {
        echo "cannot make memory group $group (root, a cgroup file system with memory)" >&2
        exit 1
    }
    echo "$BASHPID" > "$group/cgroup.procs"
    exec "$@"
}
remove_groups() { # the groups of the processes stopped (rmdir once empty)
    local g
    for g in /sys/fs/cgroup/rmq-compare-* /sys/fs/cgroup/memory/rmq-compare-*; do
        [ -d "$g" ] && for _ in 1 2 3 4 5; do rmdir "$g" 2>/dev/null && break; sleep 0.2; done
    done
    return 0
}

poll_or_exit() { # $1 = tries 0.2 s apart, $2 = what failed, $3 = log to show then, $4... = check
    local tries=$1 what=$2 log=$3
    shift 3
    for _ in $(seq 1 "$tries"); do
        if "$@"; then return 0; fi
        sleep 0.2
    done
    echo "$what; its log:" >&2
    cat "$log" >&2
    exit 1
}

registered() { "$NEW_BIN/mqadmin" clusterList -n "$NS" 2>/dev/null | grep -q bench-a; }

slave_in_sync() { # $1 = the master's listenPort
    "$NEW_BIN/mqadmin" brokerStatus -n "$NS" -b "127.0.0.1:$1" 2>/dev/null |
        grep -qE "haInSyncSlaves *: *[1-9]"
}

broker_conf() { # $1 = dir, $2 = brokerId, $3 = brokerRole, $4 = flushDiskType, $5 = listenPort
    cat <<CONF
brokerClusterName=BenchCluster
brokerName=bench-a
brokerId=$2
brokerIP1=127.0.0.1
bindAddress=127.0.0.1
listenPort=$5
haListenPort=$(free_port)
fastListenPort=$(free_port)
namesrvAddr=${NS}
brokerRole=$3
flushDiskType=$4
storePathRootDir=$1/store
autoCreateTopicEnable=true
CONF
}

stop_pair() {
    kill "$BROKER_PID" "$NS_PID" ${SLAVE_PID:+"$SLAVE_PID"} 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    [ -n "$SLAVE_PID" ] && { wait "$SLAVE_PID" 2>/dev/null || true; }
    wait "$NS_PID" 2>/dev/null || true
    SLAVE_PID=""
    [ -z "${MEMORY_LIMIT:-}" ] || remove_groups
}

drop_stores() { # $1 = work dir of a side's round: its stores go, its logs stay
    rm -rf "$1/broker/store" "$1/slave/store"
}

RESULTS="$WORK/results.tsv" # side round metric value
: > "$RESULTS"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }

# Runs one bench command ($3...) while measuring the broker's CPU; records msgs/s, latency
# percentiles and CPU per message under metric prefix $2 for side $1 (round in $ROUND).
measure() {
    local side=$1 prefix=$2
    shift 2
    local out="$WORK/${side}-${ROUND}-${prefix}.log"
    local before after
    before=$(cpu_ticks "$BROKER_PID")
    local slave_before=0 slave_after=0
    [ -n "$SLAVE_PID" ] && slave_before=$(cpu_ticks "$SLAVE_PID")
    local faults_before
    faults_before=$(min_faults "$BROKER_PID")
    [ -n "${THREADS:-}" ] && thread_use "$BROKER_PID" > "$out.threads0"
    with_cpu "$out.cpu" timeout $((SECS * 10 + 60)) "$@" > "$out" 2>&1 ||
        echo "($prefix exited $?)" >> "$out"
    after=$(cpu_ticks "$BROKER_PID")
    [ -n "$SLAVE_PID" ] && slave_after=$(cpu_ticks "$SLAVE_PID")
    [ -n "${THREADS:-}" ] && thread_use "$BROKER_PID" > "$out.threads1"
    local client_cpu
    client_cpu=$(cat "$out.cpu" 2>/dev/null || echo 0)
    local faults=$(($(min_faults "$BROKER_PID") - faults_before))
    local msgs tps
    msgs=$(field "$out" "(Messages (sent|consumed)|Probes answered):")
    tps=$(field "$out" "^TPS:")
    record "$side" "$ROUND" "${prefix}_msgs_s" "${tps:-0}"
    for q in p50 p99 p999; do
        local v
        v=$(grep -E "RT\(ms\): p50" "$out" | tail -1 | grep -oE "$q [0-9.]+" | awk '{print $2}')
        [ -n "$v" ] && record "$side" "$ROUND" "${prefix}_${q}_ms" "$v"
    done
    if [ -n "${msgs:-}" ] && [ "${msgs%.*}" -gt 0 ]; then
        record "$side" "$ROUND" "${prefix}_cpu_us_per_msg" \
            "$(awk -v t=$((after - before)) -v k="$TCK" -v m="$msgs" 'BEGIN {printf "%.2f", t / k * 1e6 / m}')"
        record "$side" "$ROUND" "${prefix}_client_cpu_us_per_msg" \
            "$(awk -v c="$client_cpu" -v m="$msgs" 'BEGIN {printf "%.2f", c * 1e6 / m}')"
        [ -n "$SLAVE_PID" ] && record "$side" "$ROUND" "${prefix}_slave_cpu_us_per_msg" \
            "$(awk -v t=$((slave_after - slave_before)) -v k="$TCK" -v m="$msgs" 'BEGIN {printf "%.2f", t / k * 1e6 / m}')"
        record "$side" "$ROUND" "${prefix}_faults_per_msg" \
            "$(awk -v f="$faults" -v m="$msgs" 'BEGIN {printf "%.3f", f / m}')"
        if [ -n "${THREADS:-}" ]; then
            local name t0 c0 t1 c1
            # A thread name first seen after the phase began counts from zero.
            while read -r name t1 c1; do
                read -r t0 c0 < <(awk -v n="$name" '$1==n {print $2, $3}' "$out.threads0") || true
                t0=${t0:-0} c0=${c0:-0}
                # Threads idle through the phase would only add rows of zeros.
                [ $((t1 - t0)) -gt 0 ] || [ $((c1 - c0)) -gt 0 ] || continue
                record "$side" "$ROUND" "${prefix}_cpu_us_per_msg@${name}" \
                    "$(awk -v t=$((t1 - t0)) -v k="$TCK" -v m="$msgs" 'BEGIN {printf "%.2f", t / k * 1e6 / m}')"
                record "$side" "$ROUND" "${prefix}_csw_per_msg@${name}" \
                    "$(awk -v c=$((c1 - c0)) -v m="$msgs" 'BEGIN {printf "%.3f", c / m}')"
            done < "$out.threads1"
        fi
    fi
    printf '  %-4s %-8s %10s msgs/s  %s  broker CPU %s ticks, %s page faults\n' "$side" "$prefix" \
        "${tps:-?}" "$(grep -E 'RT\(ms\): p50' "$out" | tail -1 | sed 's/.*RT(ms): //')" \
        "$((after - before))" "$faults"
}

# One measured phase ($1 = its name, then the client command) of side $side; profiled with
# `perf record` when PERF_SIDE is this side, PERF_PHASE this phase (default send) and this is
# the first round: the broker process, or the client command itself with PERF_WHO=client.
phase() {
    local name=$1
    shift
    local perf_pid="" out="${PERF_OUT:-/tmp/perf-${side}.data}"
    if [ "${PERF_SIDE:-}" = "$side" ] && [ "$ROUND" = 1 ] && [ "${PERF_PHASE:-send}" = "$name" ]; then
        if [ "${PERF_WHO:-broker}" = client ]; then
            # shellcheck disable=SC2086 # PERF_ARGS is a list of options
            measure "$side" "$name" perf record ${PERF_ARGS:--g -F 999} -o "$out" -- "$@"
            return
        fi
        # shellcheck disable=SC2086
        perf record ${PERF_ARGS:--g -F 999} -p "$BROKER_PID" -o "$out" > "$WORK/perf.log" 2>&1 &
        perf_pid=$!
    fi
    measure "$side" "$name" "$@"
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
}

run_side() { # $1 = old|new
    local side=$1 bin client
    if [ "$side" = old ]; then bin=$OLD_BIN; else bin=$NEW_BIN; fi
    client=$NEW_BIN/mqadmin
    [ "$side" = old ] && [ "$CLIENT" = old ] && client=$OLD_BIN/mqadmin
    local dir="$WORK/${side}-${ROUND}"
    local flush=$FLUSH role=$ROLE
    [ "$side" = old ] && flush=$OLD_FLUSH && role=$OLD_ROLE
    start_pair "$bin" "$dir" "$flush" "$role"
    local topic="Cmp_${side}_${ROUND}"
    # Creates the topic (QUEUES queues) and warms up connections, routes and the store.
    "$client" benchProducer -n "$NS" -t "$topic" -c BenchCluster -q "$QUEUES" -w 8 -s "$SIZE" -d 1 \
        > "$dir/warmup.log" 2>&1
    if [ -n "${PREFILL:-}" ]; then
        "$client" benchProducer -n "$NS" -t "$topic" -w "$BATCH_TASKS" -s "$SIZE" -b "$BATCH" \
            -m "$PREFILL" -d 0 > "$dir/prefill.log" 2>&1
    fi
    phase send "$client" benchProducer -n "$NS" -t "$topic" -w "$TASKS" -s "$SIZE" -d "$SECS"
    phase batch "$client" benchProducer -n "$NS" -t "$topic" -w "$BATCH_TASKS" \
        -s "$SIZE" -b "$BATCH" -d "$SECS"
    phase consume "$client" benchConsumer -n "$NS" -t "$topic" -g "cmp_${side}_${ROUND}" \
        ${PULL_BATCH:+-p "$PULL_BATCH"}
    local max rate usage
    usage=$("$client" help benchProducer 2>&1)
    max=$(awk -v s="$side" -v r="$ROUND" '$1==s && $2==r && $3=="send_msgs_s" {print $4}' "$RESULTS")
    rate=$(awk -v m="${max:-0}" 'BEGIN {printf "%d", m / 2}')
    if [ "$rate" -gt 0 ] && grep -q -- '-r,--rate' <<< "$usage"; then
        phase half "$client" benchProducer -n "$NS" -t "$topic" -w "$TASKS" -s "$SIZE" \
            -d "$SECS" -r "$rate"
        if grep -q -- '-x,--probe' <<< "$usage"; then
            phase probe "$client" benchProducer -n "$NS" -t "$topic" -w "$TASKS" -x \
                -d "$SECS" -r "$rate"
            local q times
            for q in p99 p999; do
                times=$(awk -F'\t' -v s="$side" -v r="$ROUND" -v q="$q" '
                    $1==s && $2==r && $3=="half_"q"_ms" {h=$4}
                    $1==s && $2==r && $3=="probe_"q"_ms" {p=$4}
                    END {if (h > 0 && p > 0) printf "%.2f", h / p}' "$RESULTS")
                [ -n "$times" ] && record "$side" "$ROUND" "half_${q}_x_probe" "$times"
            done
        fi
    fi
    if [ -n "${AUTO_BATCH:-}" ] && grep -q -- '-B,--autoBatch' <<< "$usage"; then
        phase auto "$client" benchProducer -n "$NS" -t "$topic" -w "$TASKS" -s "$SIZE" \
            -d "$SECS" -B
    fi
    stop_pair
    drop_stores "$dir"
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== old: ${BASE_REV} (${OLD_BIN}); new: $(git rev-parse --short=12 HEAD)$(git diff --quiet || echo '+dirty') (${NEW_BIN})"
echo "== old ${OLD_FLUSH} ${OLD_ROLE}, new ${FLUSH} ${ROLE}${SLAVE:+, each with a slave}, ${TASKS} tasks x ${SIZE} B sync, batches of ${BATCH} from ${BATCH_TASKS} tasks, ${SECS} s per phase, ${ROUNDS} rounds${MEMORY_LIMIT:+, each broker limited to ${MEMORY_LIMIT} of memory}${PREFILL:+, after ${PREFILL} messages in batches}"
for ROUND in $(seq 1 "$ROUNDS"); do
    echo "-- round ${ROUND}"
    # Alternate which side goes first so drifting load hits both alike.
    if [ $((ROUND % 2)) = 1 ]; then order="old new"; else order="new old"; fi
    for side in $order; do
        case " ${SIDES:-old new} " in *" $side "*) run_side "$side" ;; esac
    done
done

echo
echo "== medians over ${ROUNDS} rounds (ratio new/old; for cpu and latency lower is better)"
printf '%-40s %12s %12s %8s\n' metric old new new/old
cut -f3 "$RESULTS" | sort -u | while read -r metric; do
    med() {
        awk -v s="$1" -v m="$metric" '$1==s && $3==m {print $4}' "$RESULTS" | sort -g |
            awk '{v[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
    }
    o=$(med old)
    n=$(med new)
    ratio=$(awk -v o="${o:-0}" -v n="${n:-0}" 'BEGIN {if (o > 0 && n > 0) printf "%.2f", n / o; else print "-"}')
    printf '%-40s %12s %12s %8s\n' "$metric" "${o:--}" "${n:--}" "$ratio"
done
