#!/usr/bin/env bash
# broker.groups - 1 while the last group still holds unconsumed messages (write permission not
# wiped): the operator refuses with Degraded/ScaleInRefused and keeps the group's StatefulSet.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"

last=$NGROUPS # the group 40-scale-out added, which took messages of run "second"
kubectl -n "$NS" patch rocketmqcluster "$CR" --type merge -p "{\"spec\":{\"broker\":{\"groups\":$NGROUPS}}}"
refused() { [ "$(cr_condition Degraded)" = "True/ScaleInRefused" ]; }
retry 180 refused || fail "scale-in was not refused (Degraded is $(cr_condition Degraded))"
log "ok: Degraded/ScaleInRefused"
sleep 10
assert_eq $((SLAVES + 1)) "$(kubectl -n "$NS" get sts "$CR-broker-$last" -o jsonpath='{.status.readyReplicas}')" \
  "pods of the undrained group kept"
kubectl -n "$NS" get events --field-selector involvedObject.name="$CR",reason=ScaleInRefused -o name | grep -q . ||
  fail "no ScaleInRefused Event"
out="$(bench -t E2ETopic drain --run second --acked-file /tmp/second.acked)"
echo "$out" >&2
assert_eq 0 "$(field lost "$out")" "messages of the refused group lost"
