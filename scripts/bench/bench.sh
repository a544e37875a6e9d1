#!/usr/bin/env bash
# Benchmarks for issue #2, each figure printed beside its baseline from the same run:
#  1. CreateJob calls per second from one client process vs Peer.Ping on the same service,
#     and CreateJob from CLIENTS (8) concurrent client processes (issue 20: group commit).
#  2. A 1 GiB loopback download through bitsd (create, add, resume, wait, complete) vs
#     `curl -o` of the same file from the same nginx.
source "$(dirname "$0")/bench-lib.sh"

echo "== 1. D-Bus call rate, one client process and ${CLIENTS:-8} concurrent ones (python3-dbus), same service, same run"
# CLIENT_UIDS=<uid>,<uid>...: the concurrent clients run as those users (set [Limits] through
# BITSD_CONFIG to let each create CALLS jobs); else all as root.
/usr/bin/python3 scripts/bench/bench_calls.py "$address" "${CALLS:-5000}" "${ROUNDS:-5}" "${CLIENTS:-8}" "${CLIENT_UIDS:-}"
# PARTS=calls: the call rates only.
[ "${PARTS:-all}" != calls ] || exit 0

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
# Page-cache state makes single runs vary 2-3x on this kind of machine: every run starts
# after `rm` + `sync`, the order alternates, and the medians are compared.
run_curl_plain() { curl -s -o "$work/out/plain.bin" "$url"; }
run_curl() { curl -s -o "$work/out/curl.bin" "$url" && sync "$work/out/curl.bin"; }
run_bitsd() { /usr/bin/python3 scripts/bench/bench_download.py "$address" "$url" "$work/out/bitsd.bin" >/dev/null 2>>"$work/bench_download.log" || { cat "$work/bench_download.log" "$work/bitsd.log" | tail -20; exit 1; }; }
# timed OUTPUT COMMAND...: removes OUTPUT, syncs, prints the command's wall time.
timed() { rm -f "$1"; sync; local t0 t1; t0=$(date +%s.%N); "${@:2}"; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b-a }'; }
plain_times=(); curl_times=(); bitsd_times=()
for round in $(seq "${ROUNDS:-5}"); do
  if ((round % 2)); then c=$(timed "$work/out/curl.bin" run_curl); b=$(timed "$work/out/bitsd.bin" run_bitsd)
  else b=$(timed "$work/out/bitsd.bin" run_bitsd); c=$(timed "$work/out/curl.bin" run_curl); fi
  p=$(timed "$work/out/plain.bin" run_curl_plain); plain_times+=("$p")
  cmp "$work/out/bitsd.bin" "$work/www/big.bin" || { echo "MISMATCH"; ls -la "$work/out"; tail "$work/bitsd.log"; exit 1; }
  curl_times+=("$c"); bitsd_times+=("$b")
  echo "   round $round: curl -o ${p} s   curl -o + fsync ${c} s   bitsd create..complete (fsynced) ${b} s"
done
mp=$(median "${plain_times[@]}"); mc=$(median "${curl_times[@]}"); mb=$(median "${bitsd_times[@]}")
awk -v p="$mp" -v c="$mc" -v b="$mb" 'BEGIN { printf "   median: curl -o %.2f s, curl -o + fsync %.2f s, bitsd %.2f s; ratio bitsd/(curl -o) %.3f, bitsd/(curl -o + fsync) %.3f\n", p, c, b, b/p, b/c }'
