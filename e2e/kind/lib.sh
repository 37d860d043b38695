#!/usr/bin/env bash
# Helpers shared by run.sh and the numbered steps (sourced, never run).
# Every step runs with: NS (test namespace), EXAMPLE (path of the example cluster file), CR (its
# metadata.name), NGROUPS and SLAVES (broker.groups, broker.replicasPerGroup of the example),
# IMAGE and IMAGE2 (two tags of the image under test), WORK (scratch dir of this example).

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${STEP:-run}" "$*" >&2; }

fail() {
  log "FAIL: $*"
  exit 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
  if [ "$1" != "$2" ]; then
    fail "$3: expected '$1', got '$2'"
  fi
  log "ok: $3 = $2"
}

# assert_ge MIN ACTUAL WHAT
assert_ge() {
  if [ "$2" -lt "$1" ]; then
    fail "$3: expected >= $1, got $2"
  fi
  log "ok: $3 = $2 (>= $1)"
}

# retry SECONDS COMMAND...: runs COMMAND every 3 s until it succeeds or SECONDS pass.
retry() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 3
  done
}

# yaml_field FILE DOTTED.PATH: one scalar of a YAML file (python3 + PyYAML, present on CI runners).
yaml_field() {
  python3 - "$1" "$2" <<'PY'
import sys, yaml
v = yaml.safe_load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = (v or {}).get(k)
print("" if v is None else v)
PY
}

# render_example SRC DST IMAGE: the example as the suite applies it: same spec, the image under
# test (loaded into kind, never pulled) and the test namespace. static-checks.sh validates the
# output of this very function against the CRD schema.
render_example() {
  python3 - "$1" "$2" "$3" "${NS:-rocketmq-e2e}" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
doc["metadata"]["namespace"] = sys.argv[4]
doc["spec"]["image"] = sys.argv[3]
doc["spec"]["imagePullPolicy"] = "IfNotPresent"
yaml.safe_dump(doc, open(sys.argv[2], "w"), sort_keys=False)
PY
}

# cr_condition TYPE -> "Status/Reason" of the cluster's condition.
cr_condition() {
  kubectl -n "$NS" get rocketmqcluster "$CR" \
    -o jsonpath="{.status.conditions[?(@.type==\"$1\")].status}/{.status.conditions[?(@.type==\"$1\")].reason}"
}

cr_ready() {
  [ "$(cr_condition Ready)" = "True/AllGroupsReady" ] &&
    [ "$(kubectl -n "$NS" get rocketmqcluster "$CR" -o jsonpath='{.status.observedGeneration}')" = \
      "$(kubectl -n "$NS" get rocketmqcluster "$CR" -o jsonpath='{.metadata.generation}')" ]
}

wait_ready() {
  retry "${1:-600}" cr_ready || {
    kubectl -n "$NS" get rocketmqcluster "$CR" -o yaml >&2 || true
    kubectl -n "$NS" get pods -o wide >&2 || true
    fail "$CR not Ready"
  }
  log "ok: $CR Ready"
}

namesrv_addr() {
  kubectl -n "$NS" get rocketmqcluster "$CR" -o jsonpath='{.status.nameServerAddress}'
}

# bench ARGS...: e2e-bench in the long-running bench pod, against this cluster's name servers.
bench() {
  kubectl -n "$NS" exec e2e-bench -- e2e-bench -n "$(namesrv_addr)" "$@"
}

# mqadmin ARGS...: the image's mqadmin, from the bench pod.
mqadmin() {
  kubectl -n "$NS" exec e2e-bench -- mqadmin "$@" -n "$(namesrv_addr)"
}

# field KEY LINE: value of key=value in a line of e2e-bench output.
field() {
  tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

broker_pod() { echo "$CR-broker-$1-$2"; }
