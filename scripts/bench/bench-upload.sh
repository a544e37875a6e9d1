#!/usr/bin/env bash
# Upload benchmark (issue #6): 1 GiB (random bytes) uploaded over loopback to the project's
# BITS upload server (Tests/Support/bitsuploadserver.py) by a bitsd foreground upload job,
# vs `curl -T` (HTTP PUT) of the same file to the same server, median of ${ROUNDS:-3}
# alternating runs. The server fsyncs neither; both sides read the source from the page cache.
source "$(dirname "$0")/bench-lib.sh"
SIZE=${SIZE:-1G}
mkdir -p "$work/in" "$work/src"; chmod 755 "$work/src"
head -c "$SIZE" /dev/urandom > "$work/src/up.bin"; chmod 644 "$work/src/up.bin"
/usr/bin/python3 Tests/Support/bitsuploadserver.py --root "$work/in" --port 0 --port-file "$work/up.port" > /dev/null 2>&1 & pids+=($!)
for _ in $(seq 50); do [ -s "$work/up.port" ] && break; sleep 0.1; done
port=$(cat "$work/up.port")
base="http://127.0.0.1:$port"
want=$(sha256sum < "$work/src/up.bin" | cut -d' ' -f1)
cw=(); bw=()
one_curl() { rm -f "$work/in/c.bin"; local t0 t1; t0=$(date +%s.%N)
             curl -s --noproxy '*' -T "$work/src/up.bin" "$base/c.bin" -o /dev/null; t1=$(date +%s.%N)
             cw+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"); }
one_bitsd() { rm -f "$work/in/b.bin"
              bw+=("$(/usr/bin/python3 scripts/bench/bench_upload.py "$address" "$base/b.bin" "$work/src/up.bin")"); }
for r in $(seq "${ROUNDS:=3}"); do if ((r % 2)); then one_curl; one_bitsd; else one_bitsd; one_curl; fi; done
[ "$(sha256sum < "$work/in/b.bin" | cut -d' ' -f1)" = "$want" ] || { echo "bitsd upload MISMATCH"; exit 1; }
[ "$(sha256sum < "$work/in/c.bin" | cut -d' ' -f1)" = "$want" ] || { echo "curl upload MISMATCH"; exit 1; }
awk -v a="$(median "${cw[@]}")" -v b="$(median "${bw[@]}")" -v n="$ROUNDS" -v s="$SIZE" \
  'BEGIN { printf "== %s upload, median of %d: curl -T (PUT) %.2f s, bitsd upload job (BITS_POST fragments) %.2f s, ratio %.3f\n", s, n, a, b, b/a }'
