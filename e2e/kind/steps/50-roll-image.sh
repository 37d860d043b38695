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
  -o json >"$WORK/events.json"
python3 - "$WORK/events.json" "$since" "$SLAVES" <<'PY'
import json, re, sys
# Events recorded through events.k8s.io carry eventTime; core ones lastTimestamp/firstTimestamp.
def when(e):
    return e.get("eventTime") or e.get("lastTimestamp") or e.get("firstTimestamp") or ""
items = sorted(json.load(open(sys.argv[1]))["items"], key=when)
seq = []
for e in items:
    m = re.search(r"rolling group \S+-(\d+): (\w+)", e.get("message", ""))
    if m and when(e)[:19] >= sys.argv[2][:19]:
        seq.append((int(m.group(1)), m.group(2)))
print("roll events:", seq, file=sys.stderr)
assert seq, "no roll Events were recorded"
groups = [g for g, _ in seq]
assert groups == sorted(groups), f"groups rolled out of order: {seq}"
for g in set(groups):
    phases = [p for gg, p in seq if gg == g]
    if int(sys.argv[3]) > 0 and "RollingMaster" in phases and "RollingSlaves" in phases:
        assert phases.index("RollingSlaves") < phases.index("RollingMaster"), f"group {g}: {phases}"
PY
log "ok: roll Events in order"
out="$(bench -t E2ETopic drain --run first --acked-file /tmp/first.acked)"
echo "$out" >&2
assert_eq 0 "$(field lost "$out")" "acknowledged messages lost across the roll"
