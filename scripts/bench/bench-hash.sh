#!/usr/bin/env bash
# Verified downloads (issue 19 item 1): one 1 GiB file from loopback nginx through a release
# bitsd, CreateJob .. Complete returned (the file fsynced), with an ExpectedHash (sha256) set
# ("hashed") and without ("plain"), in a rotating order, same invocation; median of ROUNDS
# (default 5) after one warm-up of each. Every download computes the file's SHA-256 (the
# File's Hash) anyway, so "plain" hashes too. With BASE_BITSD=<a release bitsd of the base
# branch, which hashes nothing> that daemon runs beside this tree's (its own bus and state)
# and the same download through it ("base") is in the rotation too: what hashing costs at all.
# Wall time is sensitive to whatever else the machine runs; the daemon's CPU seconds per
# download (utime + stime from /proc) are printed beside it.
# Usage (root): ROUNDS=5 [BASE_BITSD=/path/to/base/bitsd] scripts/bench/bench-hash.sh
: "${BENCH_FS:=ext4}"
source "$(dirname "$0")/bench-lib.sh"
: "${ROUNDS:=5}"
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
for r in $(seq "$ROUNDS"); do
  for k in "${!modes[@]}"; do
    m=${modes[$(( (k + r) % ${#modes[@]} ))]}
    read -r w c < <(run "$m")
    wall[$m]+="$w "; cpu[$m]+="$c "
  done
done
echo "== 1 GiB download, CreateJob .. Complete (median of $ROUNDS rounds, rotating order, after a warm-up)"
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
