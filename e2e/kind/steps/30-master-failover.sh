#!/usr/bin/env bash
# Delete the master pod of group 0. With slaves: while it is gone the group's messages are read
# from its slave (all of them). Always: the StatefulSet brings the master back, it registers
# again as BID 0, and every acknowledged message of the first run is readable.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"

master="$(broker_pod 0 0)"
uid="$(kubectl -n "$NS" get pod "$master" -o jsonpath='{.metadata.uid}')"
kubectl -n "$NS" delete pod "$master" --wait=false
if [ "$SLAVES" -gt 0 ]; then
  # A slave learns topics from its master's metadata sync (every 10 s): retry briefly.
  from_slave() { bench -t E2ETopic drain --run first --slaves-only "$CR-broker-0" >"$WORK/slave.out"; }
  retry 60 from_slave || fail "the slave of $CR-broker-0 did not serve E2ETopic"
  out="$(cat "$WORK/slave.out")"
  echo "$out" >&2
  # Every message the group acknowledged in 20-produce-consume is on the slave.
  acked0="$(grep -o "\"$CR-broker-0\": [0-9]*" "$WORK/first.produce" | grep -o '[0-9]*$')"
  assert_ge "$acked0" "$(field distinct "$out")" "messages of $CR-broker-0 read from its slave alone"
fi
back() {
  local now
  now="$(kubectl -n "$NS" get pod "$master" -o jsonpath='{.metadata.uid}' 2>/dev/null || true)"
  [ -n "$now" ] && [ "$now" != "$uid" ] &&
    kubectl -n "$NS" wait --for=condition=Ready "pod/$master" --timeout=5s >/dev/null 2>&1
}
retry 300 back || fail "$master did not come back"
log "ok: StatefulSet recreated $master"
registered() { mqadmin clusterList | awk -v b="$CR-broker-0" '$2 == b && $3 == "0" { found = 1 } END { exit !found }'; }
retry 120 registered || fail "$master did not register again"
wait_ready 300
out="$(bench -t E2ETopic drain --run first --acked-file /tmp/first.acked)"
echo "$out" >&2
assert_eq 0 "$(field lost "$out")" "acknowledged messages lost across the master's deletion"
