#!/usr/bin/env bash
# The kind suite in one command: e2e/kind/run.sh
#
# Needs Docker, kind, kubectl, helm and python3 with PyYAML. Creates a kind cluster, builds the
# image from the repository's Dockerfile (plus the e2e-bench client image), loads both, installs
# the CRD and the operator with the Helm chart, then runs the numbered steps in steps/ for every
# example cluster file in deploy/ (each step asserts its own outcome, like a kuttl suite), and
# deletes the kind cluster (unless KEEP_CLUSTER=1).
#
# Environment:
#   KIND_CLUSTER   kind cluster name (default rocketmq-e2e); an existing one is reused
#   EXAMPLES       space-separated example files (default: every deploy/cluster-*.yaml)
#   STEPS          space-separated step names to run (default: all of steps/)
#   SKIP_BUILD=1   use images already loaded (rocketmq-rs:e2e, rocketmq-rs:e2e-2, e2e-bench)
#   KEEP_CLUSTER=1 keep the kind cluster at the end (for debugging)
#   MESSAGES       messages per produce (default 20000), PRODUCERS (default 32)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"

export KIND_CLUSTER="${KIND_CLUSTER:-rocketmq-e2e}"
export NS=rocketmq-e2e
export IMAGE=rocketmq-rs:e2e
export IMAGE2=rocketmq-rs:e2e-2
export BENCH_IMAGE=rocketmq-rs-e2e-bench:e2e
export MESSAGES="${MESSAGES:-20000}"
export PRODUCERS="${PRODUCERS:-32}"
OPERATOR_NS=rocketmq-system

for tool in docker kind kubectl helm python3; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done
python3 -c 'import yaml' || fail "python3 needs PyYAML"

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    log "failed (exit $rc); state follows"
    kubectl get rocketmqclusters -A -o wide >&2 || true
    kubectl -n "$NS" get pods,sts,pvc -o wide >&2 || true
    kubectl -n "$NS" get events --sort-by=.lastTimestamp >&2 || true
    kubectl -n "$OPERATOR_NS" logs deploy/rocketmq-operator --tail=200 >&2 || true
  fi
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then
    kind delete cluster --name "$KIND_CLUSTER" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

START=$SECONDS
STEP=cluster
if ! kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  kind create cluster --name "$KIND_CLUSTER" --config "$HERE/manifests/kind-config.yaml" --wait 180s
fi
kubectl cluster-info --context "kind-$KIND_CLUSTER" >/dev/null
kubectl config use-context "kind-$KIND_CLUSTER" >/dev/null

STEP=image
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  docker build --target build -t rocketmq-rs-build:e2e "$ROOT"
  docker build -t "$IMAGE" "$ROOT"
  docker build -f "$HERE/Dockerfile.bench" -t "$BENCH_IMAGE" \
    --build-arg BASE="$IMAGE" --build-arg BUILD=rocketmq-rs-build:e2e "$ROOT"
  # A second tag of the same image: changing spec.image to it must roll every broker.
  docker tag "$IMAGE" "$IMAGE2"
  kind load docker-image --name "$KIND_CLUSTER" "$IMAGE" "$IMAGE2" "$BENCH_IMAGE"
fi

STEP=operator
helm upgrade --install rocketmq-operator "$ROOT/charts/rocketmq-operator" \
  --namespace "$OPERATOR_NS" --create-namespace \
  --set image.repository="${IMAGE%%:*}" --set image.tag="${IMAGE##*:}" \
  --set image.pullPolicy=IfNotPresent --wait --timeout 5m
kubectl wait --for=condition=Established crd/rocketmqclusters.rocketmq.rocketmq-rs.io --timeout=60s
kubectl apply -f "$HERE/manifests/namespace.yaml"
kubectl apply -f "$HERE/manifests/bench-pod.yaml"
kubectl -n "$NS" wait --for=condition=Ready pod/e2e-bench --timeout=180s

read -r -a examples <<<"${EXAMPLES:-$(ls "$ROOT"/deploy/cluster-*.yaml)}"
read -r -a steps <<<"${STEPS:-$(cd "$HERE/steps" && printf '%s ' [0-9][0-9]-*.sh)}"
for example in "${examples[@]}"; do
  EXAMPLE="$(cd "$(dirname "$example")" && pwd)/$(basename "$example")"
  CR="$(yaml_field "$EXAMPLE" metadata.name)"
  NGROUPS="$(yaml_field "$EXAMPLE" spec.broker.groups)"; NGROUPS="${NGROUPS:-1}"
  SLAVES="$(yaml_field "$EXAMPLE" spec.broker.replicasPerGroup)"; SLAVES="${SLAVES:-0}"
  WORK="$(mktemp -d)"
  export EXAMPLE CR NGROUPS SLAVES WORK
  for step in "${steps[@]}"; do
    export STEP="$CR/${step%.sh}"
    log "start ($((SECONDS - START))s)"
    bash "$HERE/steps/$step"
    log "passed"
  done
  rm -rf "$WORK"
done
STEP=finished
log "kind suite passed in $((SECONDS - START))s"
