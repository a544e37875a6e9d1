# Shared set-up of the benchmark scripts (sourced): a work directory, a private bus with
# system-bus semantics and our policy, and a release bitsd on it. Defines $repo, $work,
# $address, $bitsd_pid, `pids` (stopped on exit) and `median`.
# Usage: BITSD_CONFIG=<ini text, optional> source scripts/bench-lib.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
bitsd=${BITSD:-$repo/.build/release/bitsd}
[ -x "$bitsd" ] || swift build -c release
work=$(mktemp -d /tmp/bitsd-bench.XXXXXX); chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
printf '%s\n' "${BITSD_CONFIG:-}" > "$work/bitsd.conf"
sed -e "s|@SOCKET@|$work/bus|" -e "s|@POLICY@|$repo/dbus/org.example.Bits.conf|" scripts/private-system-bus.conf.in > "$work/bus.conf"
dbus-daemon --config-file="$work/bus.conf" --nofork --print-address=1 > "$work/address" 2> "$work/dbus.log" & pids+=($!)
for _ in $(seq 50); do [ -s "$work/address" ] && break; sleep 0.1; done
address=$(head -1 "$work/address")
"$bitsd" --address "$address" --state-directory "$work/state" --config "$work/bitsd.conf" \
  --interface-directory "$repo/dbus" 2> "$work/bitsd.log" & pids+=($!)
bitsd_pid=$!
for _ in $(seq 100); do busctl --address="$address" status org.example.Bits >/dev/null 2>&1 && break; sleep 0.1; done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
