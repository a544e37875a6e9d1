#!/usr/bin/env bash
# bitsctl benchmarks, each figure printed beside its baseline from the same run (release build,
# private system-style bus, bitsd and nginx on loopback, as the other bench scripts):
#  1. `bitsctl transfer URL FILE` of a SIZE_MIB file (default 1024) from nginx: wall time of the
#     whole bitsctl process (create..complete, the file in place, fsynced by bitsd) vs
#     `curl -s -o FILE URL`, and vs `curl -o` + `sync FILE`. Runs alternate (the order rotates
#     each round); before each run: rm + sync + drop caches (when /proc/sys/vm/drop_caches is
#     writable), then the source file and both programs are read back into the page cache so
#     that no run pays for disk reads the others do not. Median of ROUNDS (default 3). Every
#     result's size is checked, and its sha256 in the first round.
#  2. `bitsctl list --json` with JOBS (default 300) jobs present, one file each, vs one
#     `busctl call ... GetManagedObjects` (the call bitsctl makes; same data, process start
#     included) and `busctl call ... ListJobs b false`. Median of ROUNDS x 5 runs, alternating;
#     plain `bitsctl list` (text) runs in the rotation too and is printed with the run spreads.
# Usage (as root): [BUILD_DIR=.build] [ROUNDS=3] [SIZE_MIB=1024] [JOBS=300] scripts/bench/bench-bitsctl.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
ROUNDS=${ROUNDS:-3}; SIZE_MIB=${SIZE_MIB:-1024}; JOBS=${JOBS:-300}
build_dir=$(realpath -m "${BUILD_DIR:-.build}")
# One product per invocation: `swift build --product a --product b` builds only the last one.
for product in bitsd bitsctl; do
  swift build -c release --scratch-path "$build_dir" --product "$product" 2>&1 | tail -1
done
export BITSD=$build_dir/release/bitsd
bitsctl=$build_dir/release/bitsctl
source scripts/bench/bench-lib.sh

fail() { echo "FAILED: $*"; for f in bitsctl.err bitsd.log; do [ -s "$work/$f" ] && { echo "--- $f"; tail -20 "$work/$f"; }; done; exit 1; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
echo "   load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"

# nginx on loopback serving the test file.
mkdir -p "$work/www" "$work/out/list"
head -c "${SIZE_MIB}M" /dev/urandom > "$work/www/big.bin"
echo ok > "$work/www/ping.txt"
size=$(stat -c %s "$work/www/big.bin")
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on;
  server { listen 127.0.0.1:$port; root $work/www; } }
NGINX
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
base="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -sf -o /dev/null "$base/ping.txt" && break; sleep 0.1; done
url="$base/big.bin"
source_sha=$(sha256sum < "$work/www/big.bin" | cut -d' ' -f1)

can_drop=false
if (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then can_drop=true; fi
# fresh FILE: removes FILE, syncs, drops caches if allowed, re-reads the source and both programs.
fresh() {
  rm -f "$1"; sync
  if $can_drop; then echo 3 > /proc/sys/vm/drop_caches; fi
  cat "$work/www/big.bin" > /dev/null
  curl -s -o /dev/null "$base/ping.txt"
  "$bitsctl" list --json --address "$address" > /dev/null
}
run_curl() { curl -s -o "$1" "$url"; }
run_curl_sync() { curl -s -o "$1" "$url" && sync "$1"; }
run_bitsctl() { "$bitsctl" transfer --address "$address" --progress never "$url" "$1" > "$work/bitsctl.out" 2> "$work/bitsctl.err"; }
# timed KIND ROUND: one fresh run of KIND; checks the result; sets $took (seconds).
timed() {
  local out="$work/out/$1.bin" t0 t1 got
  fresh "$out"
  t0=$(now); "run_$1" "$out" || fail "$1 exited $?"; t1=$(now)
  took=$(elapsed "$t0" "$t1")
  got=$(stat -c %s "$out" 2>/dev/null || echo missing)
  [ "$got" = "$size" ] || fail "$1: $out has $got bytes, expected $size"
  if [ "$2" = 1 ]; then
    [ "$(sha256sum < "$out" | cut -d' ' -f1)" = "$source_sha" ] || fail "$1: sha256 of $out differs from the source"
  fi
  rm -f "$out"
}

echo "== 1. bitsctl transfer of ${SIZE_MIB} MiB from nginx vs curl -o (median of $ROUNDS, alternating; drop caches: $can_drop)"
kinds=(curl bitsctl curl_sync)
declare -A times=([curl]="" [bitsctl]="" [curl_sync]="") name=([curl]="curl -o" [bitsctl]="bitsctl transfer" [curl_sync]="curl -o + sync")
for round in $(seq "$ROUNDS"); do
  line="   round $round:"
  for k in 0 1 2; do
    kind=${kinds[$(((round - 1 + k) % 3))]}
    timed "$kind" "$round"
    times[$kind]+=" $took"
    line+="  ${name[$kind]} $took s;"
  done
  echo "${line%;}"
done
# shellcheck disable=SC2086
{ m_curl=$(median ${times[curl]}); m_sync=$(median ${times[curl_sync]}); m_ctl=$(median ${times[bitsctl]}); }
left=$(busctl --address="$address" call org.example.Bits /org/example/Bits org.example.Bits.Manager ListJobs b true | awk '{print $2}')
[ "$left" = 0 ] || fail "bitsctl transfer left $left jobs behind"

echo "== 2. bitsctl list --json with $JOBS jobs (one file each) vs busctl (median of $((ROUNDS * 5)), alternating)"
limit=$(busctl --address="$address" get-property org.example.Bits /org/example/Bits org.example.Bits.Manager MaxJobsPerMachine | awk '{print $2}')
if ((JOBS <= limit)); then echo "   MaxJobsPerMachine=$limit: $JOBS jobs are within it (root is exempt from the limits anyway)"
else echo "   MaxJobsPerMachine=$limit < $JOBS: only root's exemption from the limits allows this many"; fi
/usr/bin/python3 - "$address" "$JOBS" "$base/list" "$work/out/list" <<'PY' || fail "creating $JOBS jobs"
import sys
import dbus
address, count, url, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
bus = dbus.bus.BusConnection(address)
manager = bus.get_object("org.example.Bits", "/org/example/Bits")
create = manager.get_dbus_method("CreateJob", "org.example.Bits.Manager")
for i in range(1, count + 1):
    job = bus.get_object("org.example.Bits", create(f"bench list {i}", "download"))
    job.AddFile(f"{url}/f{i}.bin", f"{dest}/f{i}.bin", dbus_interface="org.example.Bits.Job")
PY
present=$(busctl --address="$address" call org.example.Bits /org/example/Bits org.example.Bits.Manager ListJobs b false | awk '{print $2}')
[ "$present" = "$JOBS" ] || fail "ListJobs reports $present jobs, expected $JOBS"
run_list() { "$bitsctl" list --json --address "$address" > "$work/list.json" 2> "$work/bitsctl.err"; }
run_text() { "$bitsctl" list --address "$address" > "$work/list.txt" 2> "$work/bitsctl.err"; }
run_managed() { busctl --address="$address" call org.example.Bits /org/example/Bits org.freedesktop.DBus.ObjectManager GetManagedObjects > "$work/managed.txt"; }
run_listjobs() { busctl --address="$address" call org.example.Bits /org/example/Bits org.example.Bits.Manager ListJobs b false > "$work/listjobs.txt"; }
run_list || fail "bitsctl list --json"
/usr/bin/python3 - "$work/list.json" "$JOBS" <<'PY' || fail "bitsctl list --json output"
import json, sys
jobs = json.load(open(sys.argv[1]))
assert isinstance(jobs, list) and len(jobs) == int(sys.argv[2]), f"{len(jobs)} entries"
assert all(j.get("FilesTotal") == 1 for j in jobs), "a job without its one file"
PY
lkinds=(list managed listjobs text)
declare -A ltimes=([list]="" [managed]="" [listjobs]="" [text]="")
for i in $(seq $((ROUNDS * 5))); do
  for k in 0 1 2 3; do
    kind=${lkinds[$(((i - 1 + k) % 4))]}
    t0=$(now); "run_$kind" || fail "$kind exited $?"; t1=$(now)
    ltimes[$kind]+=" $(elapsed "$t0" "$t1")"
  done
done
[ "$(wc -c < "$work/list.json")" -gt 0 ] && [ "$(wc -l < "$work/list.txt")" = "$JOBS" ] && [ "$(head -c 1 "$work/managed.txt")" = "a" ] && [ "$(awk '{print $2}' "$work/listjobs.txt")" = "$JOBS" ] \
  || fail "an empty or short listing"
spread() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1*1000} END {printf "min %.1f, median %.1f, max %.1f ms", v[1], v[int((NR+1)/2)], v[NR]}'; }
declare -A label=([list]="bitsctl list --json" [text]="bitsctl list (text)" [managed]="busctl GetManagedObjects" [listjobs]="busctl ListJobs b false")
for kind in list text managed listjobs; do
  # shellcheck disable=SC2086
  printf '   %-26s %s over %d runs\n' "${label[$kind]}:" "$(spread ${ltimes[$kind]})" $((ROUNDS * 5))
done
# shellcheck disable=SC2086
{ m_list=$(median ${ltimes[list]}); m_managed=$(median ${ltimes[managed]}); m_listjobs=$(median ${ltimes[listjobs]}); }
echo "   load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "figure | bitsctl | baseline | ratio"
echo "---|---|---|---"
awk -v c="$m_curl" -v s="$m_sync" -v b="$m_ctl" -v mib="$SIZE_MIB" -v r="$ROUNDS" 'BEGIN {
  printf "`bitsctl transfer`, %d MiB from nginx on loopback, wall, median of %d | %.2f s | `curl -o`: %.2f s | %.2f\n", mib, r, b, c, b / c
  printf "same | %.2f s | `curl -o` + `sync FILE`: %.2f s | %.2f\n", b, s, b / s }'
awk -v l="$m_list" -v g="$m_managed" -v j="$m_listjobs" -v n="$JOBS" -v r="$((ROUNDS * 5))" 'BEGIN {
  printf "`bitsctl list --json`, %d jobs with one file each, median of %d | %.1f ms | `busctl call GetManagedObjects`: %.1f ms | %.2f\n", n, r, l * 1000, g * 1000, l / g
  printf "same | %.1f ms | `busctl call ListJobs b false`: %.1f ms | %.2f\n", l * 1000, j * 1000, l / j }'
