#!/usr/bin/env bash
# Apply the example; assert: Ready, one StatefulSet per group with 1+replicasPerGroup ready pods,
# mqadmin clusterList lists every broker (BID 0 master and BID n slaves) of every group.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"

render_example "$EXAMPLE" "$WORK/cluster.yaml" "$IMAGE"
kubectl apply --server-side -f "$WORK/cluster.yaml"
wait_ready 900

members=$((SLAVES + 1))
for g in $(seq 0 $((NGROUPS - 1))); do
  ready="$(kubectl -n "$NS" get sts "$CR-broker-$g" -o jsonpath='{.status.readyReplicas}')"
  assert_eq "$members" "$ready" "ready pods of $CR-broker-$g"
done
list="$(mqadmin clusterList)"
echo "$list" >&2
for g in $(seq 0 $((NGROUPS - 1))); do
  rows="$(awk -v b="$CR-broker-$g" '$2 == b' <<<"$list" | wc -l | tr -d " ")"
  assert_eq "$members" "$rows" "clusterList rows of $CR-broker-$g"
done
