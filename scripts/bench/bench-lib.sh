# Shared set-up of the benchmark scripts (sourced): a work directory, a private bus with
# system-bus semantics and our policy, and a release bitsd on it. Defines $repo, $work,
# $address, $bitsd_pid, $bus_pid, `pids` (stopped on exit), `median` and `mean`.
# Usage: BITSD_CONFIG=<ini text, optional> source scripts/bench/bench-lib.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
bitsd=${BITSD:-$repo/.build/release/bitsd}
[ -x "$bitsd" ] || swift build -c release
# Where the work directory (served files, downloads, bitsd's database) lives. BENCH_FS=ext4:
# a fresh ext4 file system with a journal, as most Linux machines have, on a loop device
# (bench-transfer.sh's default). BENCH_FS=tmp (the others' default): /tmp itself. (This VM's
# root is ext4 without a journal, where creating a file scans past every recently deleted
# inode of its group: after the test suite or a few benchmark rounds, 200 creates under /tmp
# took 70 ms instead of 4, for curl and bitsd alike, and the figures depended on what the
# machine had deleted lately.)
pids=()
work=""; mountpoint=""; loopdev=""; image=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  [ -z "$work" ] || rm -rf "$work"
  if [ -n "$mountpoint" ]; then umount "$mountpoint" 2>/dev/null || umount -l "$mountpoint"; rmdir "$mountpoint"; fi
  [ -z "$loopdev" ] || losetup -d "$loopdev" 2>/dev/null || true
  [ -z "$image" ] || rm -f "$image"
}
trap cleanup EXIT
parent=/tmp
if [ "${BENCH_FS:-tmp}" = ext4 ]; then
  image=$(mktemp /var/tmp/bitsd-bench-fs.XXXXXX)
  truncate -s "${BENCH_FS_SIZE:-8G}" "$image"
  if mkfs.ext4 -q -F "$image" && loopdev=$(losetup --direct-io=on -f --show "$image" 2>/dev/null) \
     && mountpoint=$(mktemp -d /tmp/bitsd-bench-mnt.XXXXXX) && mount "$loopdev" "$mountpoint"; then
    parent=$mountpoint
    echo "file system: a fresh ext4 with a journal on $loopdev"
  else
    echo "file system: no loop device here; using /tmp"
    [ -z "$mountpoint" ] || rmdir "$mountpoint"; mountpoint=""
  fi
else
  echo "file system: /tmp ($(stat -f -c %T /tmp))"
fi
work=$(mktemp -d "$parent/bitsd-bench.XXXXXX"); chmod 755 "$work"
printf '%s\n' "${BITSD_CONFIG:-}" > "$work/bitsd.conf"
sed -e "s|@SOCKET@|$work/bus|" -e "s|@POLICY@|$repo/dbus/org.example.Bits.conf|" scripts/private-system-bus.conf.in > "$work/bus.conf"
dbus-daemon --config-file="$work/bus.conf" --nofork --print-address=1 > "$work/address" 2> "$work/dbus.log" & pids+=($!)
bus_pid=$!
for _ in $(seq 50); do [ -s "$work/address" ] && break; sleep 0.1; done
address=$(head -1 "$work/address")
"$bitsd" --address "$address" --state-directory "$work/state" --config "$work/bitsd.conf" \
  2> "$work/bitsd.log" & pids+=($!)
bitsd_pid=$!
for _ in $(seq 100); do busctl --address="$address" status org.example.Bits >/dev/null 2>&1 && break; sleep 0.1; done
# start_nginx: serves $work/www from a loopback nginx (one worker, sendfile, keep-alive) on a
# free port; sets $base to its URL.
start_nginx() {
  local port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$work/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 10000;
  server { listen 127.0.0.1:$port; root $work/www; } }
NGINX
  /usr/sbin/nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
  sleep 0.5
  base="http://127.0.0.1:$port"
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mean() { printf '%s\n' "$@" | awk '{t+=$1} END {print t/NR}'; }
