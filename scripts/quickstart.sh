#!/usr/bin/env bash
# Quick start: installs what is missing, builds, starts bitsd (on the system bus if one runs,
# else on a private system-style bus it starts), serves a 64 MiB file from a loopback HTTP
# server, downloads it through the service with busctl while showing progress, completes the
# job and checks the result. Everything it started is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root (the service is a root system service)"; exit 1; }
scripts/install-deps.sh
echo "== building"
swift build -c release 2>&1 | tail -1
bitsd=$repo/.build/release/bitsd

work=$(mktemp -d /tmp/bitsd-quickstart.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${installed_policy:-}" ] && rm -f "$installed_policy"
  rm -rf "$work"
}
trap cleanup EXIT

if [ -S /run/dbus/system_bus_socket ]; then
  address=unix:path=/run/dbus/system_bus_socket
  if [ ! -f /usr/share/dbus-1/system.d/org.example.Bits.conf ] && [ ! -f /etc/dbus-1/system.d/org.example.Bits.conf ]; then
    installed_policy=/usr/share/dbus-1/system.d/org.example.Bits.conf
    install -m 644 dbus/org.example.Bits.conf "$installed_policy"
    busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
  fi
  echo "== using the system bus"
else
  sed -e "s|@SOCKET@|$work/system_bus_socket|" -e "s|@POLICY@|$repo/dbus/org.example.Bits.conf|" \
      scripts/private-system-bus.conf.in > "$work/bus.conf"
  dbus-daemon --config-file="$work/bus.conf" --nofork --print-address=1 > "$work/address" 2> "$work/dbus.log" &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$work/address" ] && break; sleep 0.1; done
  address=$(head -1 "$work/address")
  echo "== no system bus here: started a private system-style bus at $address"
fi
export DBUS_SYSTEM_BUS_ADDRESS=$address

"$bitsd" --address "$address" --state-directory "$work/state" 2> "$work/bitsd.log" &
pids+=($!)
for _ in $(seq 100); do busctl --address="$address" status org.example.Bits >/dev/null 2>&1 && break; sleep 0.1; done
echo "== bitsd $(busctl --address="$address" get-property org.example.Bits /org/example/Bits org.example.Bits.Manager Version) is serving org.example.Bits"

mkdir -p "$work/www" "$work/downloads"
head -c 64M /dev/urandom > "$work/www/sample.bin"
/usr/bin/python3 Tests/Support/faultserver.py --root "$work/www" --port 0 --port-file "$work/port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")/sample.bin?rate=32000000"
echo "== serving $url (throttled to ~32 MB/s so the progress is visible)"

bus() { busctl --address="$address" "$@"; }
job=$(bus call org.example.Bits /org/example/Bits org.example.Bits.Manager CreateJob ss "quick start" download | cut -d'"' -f2)
echo "== CreateJob -> $job"
bus call org.example.Bits "$job" org.example.Bits.Job AddFile ss "$url" "$work/downloads/sample.bin" >/dev/null
bus set-property org.example.Bits "$job" org.example.Bits.Job Priority s foreground
bus call org.example.Bits "$job" org.example.Bits.Job Resume
while :; do
  read -r state done total < <(bus get-property org.example.Bits "$job" org.example.Bits.Job State BytesTransferred BytesTotal \
    | awk '{gsub(/"/,"",$2); printf "%s ", $2} END {print ""}')
  if [ "$total" = 18446744073709551615 ]; then pct=0; else pct=$((done * 100 / (total > 0 ? total : 1))); fi
  printf '\r   %-13s %11s / %11s bytes  %3d%%' "$state" "$done" "$total" "$pct"
  case $state in transferred) echo; break;; error) echo; bus get-property org.example.Bits "$job" org.example.Bits.Job ErrorCode ErrorDescription; exit 1;; esac
  sleep 0.2
done
bus call org.example.Bits "$job" org.example.Bits.Job Complete
echo "== Complete -> $(bus get-property org.example.Bits "$job" org.example.Bits.Job State)"
want=$(sha256sum < "$work/www/sample.bin" | cut -d' ' -f1)
got=$(sha256sum < "$work/downloads/sample.bin" | cut -d' ' -f1)
echo "   source sha256 $want"
echo "   result sha256 $got"
[ "$want" = "$got" ] && echo "== OK: the download through bitsd is byte-identical" || { echo "MISMATCH"; exit 1; }
