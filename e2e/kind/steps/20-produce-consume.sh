#!/usr/bin/env bash
# Create a topic on every master, produce MESSAGES from PRODUCERS concurrent producers, read
# everything back: assert no acknowledged message is missing and every group took traffic.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "$0")/../lib.sh"

bench -t E2ETopic topic -q 4
out="$(bench -t E2ETopic produce --run first --count "$MESSAGES" --producers "$PRODUCERS" --acked-file /tmp/first.acked)"
echo "$out" >&2
echo "$out" >"$WORK/first.produce"
acked="$(field acked "$out")"
assert_ge $((MESSAGES * 99 / 100)) "$acked" "acknowledged sends"
assert_eq 0 "$(field failed "$out")" "failed sends"
for g in $(seq 0 $((NGROUPS - 1))); do
  grep -q "\"$CR-broker-$g\"" <<<"$out" || fail "no send reached $CR-broker-$g"
done
drained="$(bench -t E2ETopic drain --run first --acked-file /tmp/first.acked)"
echo "$drained" >&2
assert_eq 0 "$(field lost "$drained")" "acknowledged messages lost"
