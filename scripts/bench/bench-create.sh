#!/usr/bin/env bash
# CreateJob before and after group commit (issue 20 item 2), in one invocation: bench.sh's
# call rates (PARTS=calls) against BASE_BITSD (a release bitsd built from the base branch)
# and against this tree's release bitsd, then the figures side by side.
# The concurrent clients run as CLIENTS different existing users (CLIENT_UIDS, default: the
# first non-root accounts of the user database) with the job limits raised for them: clients
# of one user each receive the signals of every job the others create, which would measure
# that signal fan-out rather than CreateJob. CLIENT_UIDS= (empty): all as root.
# Usage (root): BASE_BITSD=/path/to/base/.build/release/bitsd CALLS=1000 ROUNDS=3 scripts/bench/bench-create.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
[ -x "${BASE_BITSD:-}" ] || { echo "set BASE_BITSD to the base branch's release bitsd"; exit 1; }
[ -x .build/release/bitsd ] || swift build -c release
log=$(mktemp); trap 'rm -f "$log"' EXIT
export CLIENT_UIDS=${CLIENT_UIDS-$(getent passwd | awk -F: '$3 > 0 { print $3 }' | head -n "${CLIENTS:-8}" | paste -sd,)}
export BITSD_CONFIG=${BITSD_CONFIG-$'[Limits]\nMaxJobsPerUser=1000000\nMaxJobsPerMachine=10000000'}
run() { BITSD=$1 PARTS=calls scripts/bench/bench.sh > "$log" 2>&1; cat "$log" >&2; sed -n 's/^RESULT //p' "$log"; }
echo "== before: $BASE_BITSD" >&2; before=$(run "$BASE_BITSD")
echo "== after: $PWD/.build/release/bitsd" >&2; after=$(run "$PWD/.build/release/bitsd")
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
clients=${CLIENTS:-8}
printf '\n%-28s %10s %10s\n' "calls/s (median of ${ROUNDS:-5})" before after
printf '%-28s %10s %10s\n' "Peer.Ping, 1 client" "$(field "$before" ping)" "$(field "$after" ping)"
printf '%-28s %10s %10s\n' "CreateJob, 1 client" "$(field "$before" create)" "$(field "$after" create)"
printf '%-28s %10s %10s\n' "CreateJob, $clients clients" "$(field "$before" "create$clients")" "$(field "$after" "create$clients")"
awk -v p="$(field "$after" ping)" -v c="$(field "$after" create)" -v m="$(field "$after" "create$clients")" \
  'BEGIN { printf "after: CreateJob/Ping %.2f (goal >= 0.5), %d clients %.0f/s (goal >= 2000)\n", c/p, '"$clients"', m }'
