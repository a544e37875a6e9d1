#!/bin/bash
# Downloads URL to DEST through bitsd with busctl, printing the progress.
# Usage: busctl-download.sh URL DEST     (on the system bus; busctl honours DBUS_SYSTEM_BUS_ADDRESS)
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 URL DEST" >&2; exit 2; }
url=$1
dest=$(realpath -m -- "$2")   # AddFile wants an absolute path

bits() { busctl --system "$@"; }
job_call() { bits call org.example.Bits "$job" org.example.Bits.Job "$@"; }
job_get() { bits get-property org.example.Bits "$job" org.example.Bits.Job "$@"; }

job=$(bits call org.example.Bits /org/example/Bits org.example.Bits.Manager \
        CreateJob ss "busctl-download" download | cut -d'"' -f2)
trap 'job_call Cancel 2>/dev/null || true' EXIT   # failure or Ctrl-C: drop the job
job_call AddFile ss "$url" "$dest" >/dev/null
job_call Resume

while :; do
  props=$(job_get State BytesTransferred BytesTotal)   # s "transferring"  t 12345  t 67890
  { read -r _ state; read -r _ done; read -r _ total; } <<< "$props"
  state=${state//\"/}
  [ "$total" = 18446744073709551615 ] && total="?"   # UINT64_MAX: size not known yet
  echo "$state: $done of $total bytes"
  case $state in
    transferred) break ;;
    error) { read -r _ code; read -r _ text; } < <(job_get ErrorCode ErrorDescription)
           echo "failed: ${code//\"/}: ${text//\"/}" >&2
           exit 1 ;;   # the EXIT trap cancels the job
  esac
  sleep 0.5
done

job_call Complete   # DEST appears now, under its final name
trap - EXIT
echo "saved $dest"
