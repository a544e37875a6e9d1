#!/usr/bin/env bash
# bitsd against the download clients people use, from one run (issue 20), on loopback nginx:
#  A. one job of 200 files x 256 KiB vs curl (one process, one connection, --remote-name-all),
#     wget2 (--max-threads=1) and aria2c (-j1 -x1), all fetching the same 200 URLs;
#  B. one 1 GiB file, the same four.
# Every round removes the output and syncs first; the clients run in a rotating order; each
# figure is the median of ROUNDS (default 5) after one unmeasured warm-up round of each.
# bitsd's time is CreateJob .. Complete returned, which includes the fsync of every file; the
# clients do not fsync (their "+ sync" time is printed too). SECTIONS="A B" picks the sections.
: "${BENCH_FS:=ext4}"
source "$(dirname "$0")/bench-lib.sh"
: "${ROUNDS:=5}"
SECTIONS=" ${SECTIONS:-A B} "
for tool in curl wget2 aria2c; do command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install curl wget2 aria2)"; exit 1; }; done

mkdir -p "$work/www/many" "$work/out"
for i in $(seq 200); do head -c 262144 /dev/urandom > "$work/www/many/f$i.bin"; done
[[ $SECTIONS != *" B "* ]] || head -c 1G /dev/urandom > "$work/www/big.bin"
start_nginx
clients=(bitsd curl wget2 aria2c)

# run CLIENT OUTDIR URL... : fetches the URLs into OUTDIR (empty, synced) and prints
# "seconds seconds-with-sync".
run() {
  local client=$1 out=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"; sync
  local t0 t1 t2
  t0=$(date +%s.%N)
  case $client in
    curl)   (cd "$out" && curl -s --remote-name-all "$@") ;;
    wget2)  wget2 -q --max-threads=1 --no-robots -P "$out" "$@" ;;
    aria2c) printf '%s\n' "$@" > "$work/aria2.list"
            aria2c -q -j1 -x1 --allow-overwrite=true --auto-file-renaming=false -d "$out" -i "$work/aria2.list" ;;
    bitsd)  if (($# == 1)); then
              /usr/bin/python3 scripts/bench/bench_download.py "$address" "$1" "$out/$(basename "$1")" >/dev/null 2>&1
            else
              /usr/bin/python3 scripts/bench/bench_download.py "$address" "${1%/*}/f{}.bin" "$out/f{}.bin" "$#" >/dev/null 2>&1
            fi ;;
  esac
  t1=$(date +%s.%N); sync "$out"/*; t2=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.4f %.4f\n", b - a, c - a }'
}

# section NAME SOURCE-FILE-TO-COMPARE URL... : the rounds and the table.
section() {
  local name=$1 reference=$2; shift 2
  declare -A wall=() synced=()
  for c in "${clients[@]}"; do run "$c" "$work/out/$c" "$@" >/dev/null; done   # warm-up
  for r in $(seq "$ROUNDS"); do
    for k in 0 1 2 3; do
      local c=${clients[$(( (k + r) % 4 ))]} w s
      read -r w s < <(run "$c" "$work/out/$c" "$@")
      wall[$c]+="$w "; synced[$c]+="$s "
      cmp -s "$work/out/$c/$(basename "$reference")" "$reference" || { echo "MISMATCH: $c"; exit 1; }
    done
  done
  local best w
  echo "== $name (median of $ROUNDS rounds, rotating order, after a warm-up round)"
  printf '   %-8s %10s %12s   %s\n' client "wall (s)" "+ sync (s)" rounds
  for c in "${clients[@]}"; do
    # shellcheck disable=SC2086
    printf '   %-8s %10.3f %12.3f   %s\n' "$c" "$(median ${wall[$c]})" "$(median ${synced[$c]})" "${wall[$c]}"
  done
  # shellcheck disable=SC2086
  local b=$(median ${wall[bitsd]}) cu=$(median ${wall[curl]}) wg=$(median ${wall[wget2]}) ar=$(median ${wall[aria2c]})
  awk -v b="$b" -v c="$cu" -v w="$wg" -v a="$ar" 'BEGIN {
    f = (c < w) ? c : w
    printf "   bitsd / faster of curl and wget2: %.2f; bitsd / curl: %.2f; bitsd / aria2c: %.2f\n", b / f, b / c, b / a }'
}

if [[ $SECTIONS == *" A "* ]]; then
  urls=(); for i in $(seq 200); do urls+=("$base/many/f$i.bin"); done
  section "A. 200 files x 256 KiB" "$work/www/many/f200.bin" "${urls[@]}"
fi
if [[ $SECTIONS == *" B "* ]]; then
  curl -s -o /dev/null "$base/big.bin"   # the file in the page cache for every client alike
  section "B. 1 GiB" "$work/www/big.bin" "$base/big.bin"
fi
