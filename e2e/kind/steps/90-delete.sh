#!/usr/bin/env bash
# Delete the cluster: its workloads, Services and ConfigMaps go (owner references), its claims stay
# unless the spec asks otherwise; then the claims are removed for the next example.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"

claims_before="$(kubectl -n "$NS" get pvc -l app.kubernetes.io/instance="$CR" -o name | wc -l | tr -d " ")"
kubectl -n "$NS" delete rocketmqcluster "$CR" --wait=true --timeout=300s
gone() { [ -z "$(kubectl -n "$NS" get sts,deploy,svc,cm,pdb -l app.kubernetes.io/instance="$CR" -o name)" ]; }
retry 300 gone || fail "children of $CR remain"
log "ok: children of $CR garbage-collected"
ephemeral="$(yaml_field "$EXAMPLE" spec.broker.storage.ephemeral)"
delete_claims="$(yaml_field "$EXAMPLE" spec.broker.storage.deleteClaimsOnDeletion)"
claims_after="$(kubectl -n "$NS" get pvc -l app.kubernetes.io/instance="$CR" -o name | wc -l | tr -d " ")"
if [ "$ephemeral" != True ] && [ "$delete_claims" != True ]; then
  assert_eq "$claims_before" "$claims_after" "claims kept after deletion"
fi
kubectl -n "$NS" delete pvc -l app.kubernetes.io/instance="$CR" --wait=true --timeout=120s
