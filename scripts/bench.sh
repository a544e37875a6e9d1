#!/usr/bin/env bash
# Benchmarks for issue #2, each figure printed beside its baseline from the same run:
#  1. CreateJob calls per second from one client process vs Peer.Ping on the same service.
#  2. A 1 GiB loopback download through bitsd (create, add, resume, wait, complete) vs
#     `curl -o` of the same file from the same nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
bitsd=${BITSD:-$repo/.build/release/bitsd}
[ -x "$bitsd" ] || swift build -c release
work=$(mktemp -d /tmp/bitsd-bench.XXXXXX); chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

sed -e "s|@SOCKET@|$work/bus|" -e "s|@POLICY@|$repo/dbus/org.example.Bits.conf|" scripts/private-system-bus.conf.in > "$work/bus.conf"
dbus-daemon --config-file="$work/bus.conf" --nofork --print-address=1 > "$work/address" 2> "$work/dbus.log" & pids+=($!)
for _ in $(seq 50); do [ -s "$work/address" ] && break; sleep 0.1; done
address=$(head -1 "$work/address")
"$bitsd" --address "$address" --state-directory "$work/state" --interface-directory "$repo/dbus" 2> "$work/bitsd.log" & pids+=($!)
bitsd_pid=$!
for _ in $(seq 100); do busctl --address="$address" status org.example.Bits >/dev/null 2>&1 && break; sleep 0.1; done

echo "== 1. D-Bus call rate, one client process (python3-dbus), same service, same run"
/usr/bin/python3 scripts/bench_calls.py "$address" "${CALLS:-5000}"

echo "== 2. 1 GiB loopback download: bitsd vs curl -o (nginx, same file, same run)"
mkdir -p "$work/www" "$work/out"
head -c 1G /dev/urandom > "$work/www/big.bin"
cat > "$work/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on;
  server { listen 127.0.0.1:0; root $work/www; } }
NGINX
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s/127.0.0.1:0/127.0.0.1:$port/" "$work/nginx.conf"
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
sleep 0.5
url="http://127.0.0.1:$port/big.bin"
curl -s -o /dev/null "$url"   # warm the page cache
bus() { busctl --address="$address" "$@"; }
for round in 1 2 3; do
  rm -f "$work/out/"*
  t0=$(date +%s.%N)
  curl -s -o "$work/out/curl.bin" "$url"
  t1=$(date +%s.%N)
  job=$(bus call org.example.Bits /org/example/Bits org.example.Bits.Manager CreateJob ss bench download | cut -d'"' -f2)
  bus call org.example.Bits "$job" org.example.Bits.Job AddFile ss "$url" "$work/out/bitsd.bin" >/dev/null
  bus set-property org.example.Bits "$job" org.example.Bits.Job Priority s foreground
  bus call org.example.Bits "$job" org.example.Bits.Job Resume
  until [ "$(bus get-property org.example.Bits "$job" org.example.Bits.Job State)" = 's "transferred"' ]; do sleep 0.01; done
  bus call org.example.Bits "$job" org.example.Bits.Job Complete
  t2=$(date +%s.%N)
  cmp -s "$work/out/bitsd.bin" "$work/www/big.bin" || { echo "MISMATCH"; exit 1; }
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v r="$round" 'BEGIN { printf "   round %d: curl -o %.2f s   bitsd %.2f s   ratio %.3f\n", r, b-a, c-b, (c-b)/(b-a) }'
done
