#!/usr/bin/env bash
# Change spec.image to a second tag of the same image: every broker pod is replaced; the order,
# from the pods' start times and the cluster's Events, is one group at a time, slaves before the
# master; no acknowledged message is lost meanwhile.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"

groups=$((NGROUPS + 1)) # after 40-scale-out
since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kubectl -n "$NS" patch rocketmqcluster "$CR" --type merge -p "{\"spec\":{\"image\":\"$IMAGE2\"}}"
rolled() {
  local images
  images="$(kubectl -n "$NS" get pods -l app.kubernetes.io/instance="$CR",app.kubernetes.io/component=broker \
    -o jsonpath='{range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort -u)"
  [ "$images" = "$IMAGE2" ] && cr_ready
}
retry 1500 rolled || fail "brokers did not all roll to $IMAGE2"
log "ok: every broker runs $IMAGE2"

# Start times: within a group every slave started before its master; group g finished (master
# started) before any pod of group g+1 started.
prev_master=""
for g in $(seq 0 $((groups - 1))); do
  master_start="$(kubectl -n "$NS" get pod "$(broker_pod "$g" 0)" -o jsonpath='{.status.startTime}')"
  for o in $(seq 1 "$SLAVES"); do
    s="$(kubectl -n "$NS" get pod "$(broker_pod "$g" "$o")" -o jsonpath='{.status.startTime}')"
    [[ "$s" < "$master_start" || "$s" == "$master_start" ]] || fail "group $g: slave $o started after its master"
    [ -z "$prev_master" ] || [[ "$s" > "$prev_master" || "$s" == "$prev_master" ]] ||
      fail "group $g slave started before group $((g - 1))'s master"
  done
  [ -z "$prev_master" ] || [[ "$master_start" > "$prev_master" || "$master_start" == "$prev_master" ]] ||
    fail "group $g master started before group $((g - 1))'s master"
  prev_master="$master_start"
done
log "ok: pod start times follow the roll order"

# Events: the "rolling group <name>: <phase>" messages, oldest first, never go back to an
# earlier group, and within a group RollingSlaves comes before RollingMaster.
kubectl -n "$NS" get events --field-selector involvedObject.kind=RocketMQCluster,involvedObject.name="$CR" \
  -o jsonpath='{range .items[*]}{.lastTimestamp}{" "}{.message}{"\n"}{end}' | sort |
  awk -v since="$since" '$1 >= since' | grep -o 'rolling group [^ ]*: [A-Za-z]*' >"$WORK/roll-events" || true
cat "$WORK/roll-events" >&2
python3 - "$WORK/roll-events" "$SLAVES" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
seq = [(r[2].rstrip(":").rsplit("-", 1)[1], r[3]) for r in rows]
assert seq, "no roll Events were recorded"
groups = [int(g) for g, _ in seq]
assert groups == sorted(groups), f"groups rolled out of order: {seq}"
for g in set(groups):
    phases = [p for gg, p in seq if int(gg) == g]
    if int(sys.argv[2]) > 0 and "RollingMaster" in phases and "RollingSlaves" in phases:
        assert phases.index("RollingSlaves") < phases.index("RollingMaster"), f"group {g}: {phases}"
print("roll events in order:", seq)
PY
out="$(bench -t E2ETopic drain --run first --acked-file /tmp/first.acked)"
echo "$out" >&2
assert_eq 0 "$(field lost "$out")" "acknowledged messages lost across the roll"
