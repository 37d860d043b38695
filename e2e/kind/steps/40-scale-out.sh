#!/usr/bin/env bash
# broker.groups + 1: a new StatefulSet comes up, the operator copies the topic to it (its route
# lists the new group) and sends reach it.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"

new=$NGROUPS
kubectl -n "$NS" patch rocketmqcluster "$CR" --type merge -p "{\"spec\":{\"broker\":{\"groups\":$((NGROUPS + 1))}}}"
wait_ready 900
assert_eq $((SLAVES + 1)) "$(kubectl -n "$NS" get sts "$CR-broker-$new" -o jsonpath='{.status.readyReplicas}')" \
  "ready pods of the new group"
routed() { mqadmin topicRoute -t E2ETopic | grep -q "$CR-broker-$new"; }
retry 120 routed || fail "topic E2ETopic was not copied to $CR-broker-$new"
log "ok: E2ETopic routed to $CR-broker-$new"
out="$(bench -t E2ETopic produce --run second --count 2000 --producers 8 --acked-file /tmp/second.acked)"
echo "$out" >&2
grep -q "\"$CR-broker-$new\"" <<<"$out" || fail "no send reached $CR-broker-$new"
assert_eq 0 "$(field failed "$out")" "failed sends"
