#!/usr/bin/env bash
# Verified downloads (issue 19 item 1): one 1 GiB file from loopback nginx through a release
# bitsd, CreateJob .. Complete returned (fsynced), with an ExpectedHash (sha256) set and
# without, alternating, same invocation; median of ROUNDS (default 5) after one warm-up of
# each. Every download computes the file's SHA-256 (the File's Hash) anyway, so "without"
# hashes too; with BASE_BITSD=<a release bitsd of the base branch, which hashes nothing> the
# same download through it is measured as well (in its own run of this script), which is
# what the hash costs at all.
# Usage (root): ROUNDS=5 [BASE_BITSD=/path/to/base/bitsd] scripts/bench/bench-hash.sh
: "${BENCH_FS:=ext4}"
if [ -n "${BASE_BITSD:-}" ] && [ -z "${BENCH_HASH_INNER:-}" ]; then
  here=$(dirname "$0")
  echo "== base: $BASE_BITSD (no hashing)"
  BENCH_HASH_INNER=1 BITSD=$BASE_BITSD MODES=plain "$here/bench-hash.sh" || exit 1
  echo "== this tree"
  exec env BENCH_HASH_INNER=1 "$here/bench-hash.sh"
fi
source "$(dirname "$0")/bench-lib.sh"
: "${ROUNDS:=5}"
read -r -a modes <<< "${MODES:-plain hashed}"
mkdir -p "$work/www" "$work/out"
head -c 1G /dev/urandom > "$work/www/big.bin"
sha=$(sha256sum "$work/www/big.bin" | cut -d' ' -f1)
start_nginx
curl -s -o /dev/null "$base/big.bin"   # the file in the page cache

run() { # MODE -> seconds
  local out="$work/out/$1"
  rm -rf "$out"; mkdir -p "$out"; sync
  local expected=""
  [ "$1" = hashed ] && expected="sha256:$sha"
  /usr/bin/python3 scripts/bench/bench_hash.py "$address" "$base/big.bin" "$out/big.bin" $expected
  cmp -s "$out/big.bin" "$work/www/big.bin" || { echo "MISMATCH ($1)" >&2; exit 1; }
}
declare -A times=()
for m in "${modes[@]}"; do run "$m" >/dev/null; done   # warm-up
for r in $(seq "$ROUNDS"); do
  for k in "${!modes[@]}"; do
    m=${modes[$(( (k + r) % ${#modes[@]} ))]}
    times[$m]+="$(run "$m") "
  done
done
echo "== 1 GiB download, CreateJob .. Complete (median of $ROUNDS rounds, alternating, after a warm-up)"
for m in "${modes[@]}"; do
  # shellcheck disable=SC2086
  printf '   %-8s %8.3f s   %s\n' "$m" "$(median ${times[$m]})" "${times[$m]}"
done
if [ -n "${times[hashed]:-}" ] && [ -n "${times[plain]:-}" ]; then
  # shellcheck disable=SC2086
  awk -v h="$(median ${times[hashed]})" -v p="$(median ${times[plain]})" \
    'BEGIN { printf "   with ExpectedHash / without: %.3f\n", h / p }'
fi
