#!/usr/bin/env bash
# Verified downloads (issue 19 item 1): one 1 GiB file from loopback nginx through a release
# bitsd, CreateJob .. Complete returned (the file fsynced), with an ExpectedHash (sha256) set
# ("hashed") and without ("plain"), in every order in turn (ROUNDS a multiple of 6 with
# BASE_BITSD, of 2 without, for balance), same invocation; median of ROUNDS (default 6) after
# one warm-up of each. Every download computes the file's SHA-256 (the
# File's Hash) anyway, so "plain" hashes too. With BASE_BITSD=<a release bitsd of the base
# branch, which hashes nothing> that daemon runs beside this tree's (its own bus and state)
# and the same download through it ("base") is in the rotation too: what hashing costs at all.
# Wall time is sensitive to whatever else the machine runs; the daemon's CPU seconds per
# download (utime + stime from /proc) are printed beside it.
# Usage (root): ROUNDS=6 [BASE_BITSD=/path/to/base/bitsd] scripts/bench/bench-hash.sh
: "${BENCH_FS:=ext4}"
source "$(dirname "$0")/bench-lib.sh"
: "${ROUNDS:=6}"
modes=(plain hashed)
declare -A addr=([plain]=$address [hashed]=$address) dpid=([plain]=$bitsd_pid [hashed]=$bitsd_pid)
if [ -n "${BASE_BITSD:-}" ]; then
  mkdir -p "$work/base"
  sed -e "s|@SOCKET@|$work/base/bus|" -e "s|@POLICY@|$repo/dbus/org.example.Bits.conf|" scripts/private-system-bus.conf.in > "$work/base/bus.conf"
  dbus-daemon --config-file="$work/base/bus.conf" --nofork --print-address=1 > "$work/base/address" 2> "$work/base/dbus.log" & pids+=($!)
  for _ in $(seq 50); do [ -s "$work/base/address" ] && break; sleep 0.1; done
  addr[base]=$(head -1 "$work/base/address")
  "$BASE_BITSD" --address "${addr[base]}" --state-directory "$work/base/state" --config "$work/bitsd.conf" \
    2> "$work/base/bitsd.log" & pids+=($!)
  dpid[base]=$!
  for _ in $(seq 100); do busctl --address="${addr[base]}" status org.example.Bits >/dev/null 2>&1 && break; sleep 0.1; done
  modes=(base plain hashed)
fi
mkdir -p "$work/www" "$work/out"
head -c 1G /dev/urandom > "$work/www/big.bin"
sha=$(sha256sum "$work/www/big.bin" | cut -d' ' -f1)
start_nginx
curl -s -o /dev/null "$base/big.bin"   # the file in the page cache
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

run() { # MODE -> "wall-seconds daemon-cpu-seconds"
  local m=$1 out="$work/out/$1" expected="" c0 c1 w
  rm -rf "$out"; mkdir -p "$out"; sync
  [ "$m" = hashed ] && expected="sha256:$sha"
  c0=$(ticks "${dpid[$m]}")
  w=$(/usr/bin/python3 scripts/bench/bench_hash.py "${addr[$m]}" "$base/big.bin" "$out/big.bin" $expected)
  c1=$(ticks "${dpid[$m]}")
  cmp -s "$out/big.bin" "$work/www/big.bin" || { echo "MISMATCH ($m)" >&2; exit 1; }
  awk -v w="$w" -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%s %.2f\n", w, (b - a) / hz }'
}
declare -A wall=() cpu=()
for m in "${modes[@]}"; do run "$m" >/dev/null; done   # warm-up
# The orders of the rounds: every permutation of the modes in turn, so that each mode follows
# each other one equally often (work a daemon still does after a run, such as removing the
# finished job, then falls on every mode alike).
if ((${#modes[@]} == 3)); then
  orders=("0 1 2" "0 2 1" "1 0 2" "1 2 0" "2 0 1" "2 1 0")
else
  orders=("0 1" "1 0")
fi
for r in $(seq "$ROUNDS"); do
  for k in ${orders[$(( (r - 1) % ${#orders[@]} ))]}; do
    m=${modes[$k]}
    read -r w c < <(run "$m")
    wall[$m]+="$w "; cpu[$m]+="$c "
  done
done
echo "== 1 GiB download, CreateJob .. Complete (median of $ROUNDS rounds, every order in turn, after a warm-up)"
printf '   %-8s %9s %14s   %s\n' mode "wall (s)" "daemon CPU (s)" "wall of each round"
for m in "${modes[@]}"; do
  # shellcheck disable=SC2086
  printf '   %-8s %9.3f %14.2f   %s\n' "$m" "$(median ${wall[$m]})" "$(median ${cpu[$m]})" "${wall[$m]}"
done
# shellcheck disable=SC2086
awk -v h="$(median ${wall[hashed]})" -v p="$(median ${wall[plain]})" \
  'BEGIN { printf "   hashed / plain (wall): %.3f\n", h / p }'
if [ -n "${wall[base]:-}" ]; then
  # shellcheck disable=SC2086
  awk -v h="$(median ${wall[hashed]})" -v p="$(median ${wall[plain]})" -v b="$(median ${wall[base]})" \
    'BEGIN { printf "   hashed / base (wall): %.3f; plain / base (wall): %.3f\n", h / b, p / b }'
fi
# A refetch after a mismatch would double a download: none is expected here.
mismatches=$(grep -c "does not match" "$work/bitsd.log" || true)
echo "   hash mismatches logged by this tree's bitsd: $mismatches"
[ "$mismatches" = 0 ] || grep "does not match" "$work/bitsd.log" | head -5
