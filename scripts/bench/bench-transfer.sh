#!/usr/bin/env bash
# Transfer-engine benchmarks (issue #3), each printed beside its baseline from the same run:
#  1. Background cap accuracy: a 20 MiB/s cap (bitsd.conf [Bandwidth]) measured over 30 s
#     (first, before the big writes below leave the page cache full of dirty data).
#  2. 1 GiB from nginx on loopback: bitsd foreground job vs `curl -o` — wall time and CPU
#     seconds (the daemon's, from /proc, vs curl's).
#  3. One job of 200 files x 256 KiB vs one curl process fetching the same 200 URLs in
#     sequence over one reused connection.
# They run in the order 1, 3, 2: the 1 GiB writes last, so that their aftermath does not slow
# the 200-file rounds. SECTIONS (default "1 2 3") picks which run, e.g. SECTIONS=3 for the
# 200-file case alone.
# BENCH_FS (default ext4, see bench-lib.sh): where the files are written.
BITSD_CONFIG=$'[Bandwidth]\nBackgroundLimit=20M'
: "${BENCH_FS:=ext4}"
source "$(dirname "$0")/bench-lib.sh"

mkdir -p "$work/www/many" "$work/out"
SECTIONS=" ${SECTIONS:-1 2 3} "
section() { [[ $SECTIONS == *" $1 "* ]]; }
if section 1 || section 2; then head -c 1G /dev/urandom > "$work/www/big.bin"; fi
for i in $(seq 200); do head -c 262144 /dev/urandom > "$work/www/many/f$i.bin"; done
start_nginx
if section 1 || section 2; then curl -s -o /dev/null "$base/big.bin"; fi
cpu() { awk '{print $14 + $15}' "/proc/${1:-$bitsd_pid}/stat"; }   # clock ticks of bitsd (or of pid $1)
hz=$(getconf CLK_TCK)

sync
if section 1; then
echo "== 1. Background cap 20 MiB/s (bitsd.conf), measured over 30 s"
job=$(busctl --address="$address" call org.example.Bits /org/example/Bits org.example.Bits.Manager CreateJob ss capped download | cut -d'"' -f2)
busctl --address="$address" call org.example.Bits "$job" org.example.Bits.Job AddFile ss "$base/big.bin" "$work/out/capped.bin" >/dev/null
busctl --address="$address" call org.example.Bits "$job" org.example.Bits.Job Resume
get() { busctl --address="$address" get-property org.example.Bits "$job" org.example.Bits.Job BytesTransferred | awk '{print $2}'; }
sleep 3
b0=$(get); t0=$(date +%s.%N); sleep 30; b1=$(get); t1=$(date +%s.%N)
awk -v a="$b0" -v b="$b1" -v s="$t0" -v e="$t1" 'BEGIN { r=(b-a)/(e-s); printf "   measured %.2f MiB/s against a cap of 20.00 MiB/s: %+.1f %%\n", r/1048576, (r/20971520-1)*100 }'
busctl --address="$address" call org.example.Bits "$job" org.example.Bits.Job Cancel
rm -f "$work/out/capped.bin"; sync
fi
if section 3; then
echo "== 3. 200 files x 256 KiB in one job vs one curl over one reused connection (median of ${ROUNDS3:=5}, alternating, after one unmeasured round of each)"
urls=(); for i in $(seq 200); do urls+=("$base/many/f$i.bin"); done
c_plain=(); c_sync=(); b_many=(); c_cpu=(); b_cpu=(); d_cpu=()
many_curl() { rm -rf "$work/out/many"; mkdir -p "$work/out/many"; sync
  t0=$(date +%s.%N); (cd "$work/out/many" && /usr/bin/time -f "%U %S" -o "$work/t3" curl -s --remote-name-all "${urls[@]}"); t1=$(date +%s.%N)
  sync "$work/out/many/"*; t2=$(date +%s.%N)
  c_cpu+=("$(awk '{print $1 + $2}' "$work/t3")")
  c_plain+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"); c_sync+=("$(awk -v a="$t0" -v b="$t2" 'BEGIN{print b-a}')"); }
many_bitsd() { rm -rf "$work/out/many2"; mkdir -p "$work/out/many2"; sync
  local c0 c1 d0 d1; c0=$(cpu); d0=$(cpu "$bus_pid")
  b_many+=("$(/usr/bin/python3 scripts/bench/bench_download.py "$address" "$base/many/f{}.bin" "$work/out/many2/f{}.bin" 200 2>/dev/null)")
  c1=$(cpu); d1=$(cpu "$bus_pid")
  b_cpu+=("$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{print (b-a)/hz}')"); d_cpu+=("$(awk -v a="$d0" -v b="$d1" -v hz="$hz" 'BEGIN{print (b-a)/hz}')")
  cmp -s "$work/out/many2/f200.bin" "$work/www/many/f200.bin" || { echo MISMATCH; exit 1; }; }
# Warm both sides up (the cap section ran before; the 1 GiB section runs after this one,
# whose aftermath slowed curl's rounds here 1.5-4x when it ran first).
sleep 3; many_curl; many_bitsd; c_plain=(); c_sync=(); b_many=(); c_cpu=(); b_cpu=(); d_cpu=()
for r in $(seq "$ROUNDS3"); do if ((r % 2)); then many_curl; many_bitsd; else many_bitsd; many_curl; fi; done
t0=0; t1=$(median "${c_plain[@]}"); secs=$(median "${b_many[@]}"); ts=$(median "${c_sync[@]}")
echo "   rounds: curl ${c_plain[*]}; bitsd ${b_many[*]}"
awk -v n="$ROUNDS3" -v a="$t0" -v b="$t1" -v s="$secs" -v y="$ts" 'BEGIN { printf "   median of %d: curl (one process, sequential) %.3f s, curl + sync %.3f s, bitsd one job (create..complete, flushed) %.3f s; ratio to curl %.3f, to curl + sync %.3f\n", n, b-a, y, s, s/(b-a), s/y }'
# CPU in clock ticks (10 ms each): a mean over the rounds says more than a median of 1-3 ticks.
awk -v c="$(mean "${c_cpu[@]}")" -v b="$(mean "${b_cpu[@]}")" -v d="$(mean "${d_cpu[@]}")" \
  'BEGIN { printf "   cpu (mean per round): curl %.3f s; bitsd daemon %.3f s (ratio %.2f), plus dbus-daemon %.3f s for its signals and calls\n", c, b, b/c, d }'
fi
if section 2; then
echo "== 2. 1 GiB from nginx, foreground job vs curl -o (median of ${ROUNDS:=5}, alternating, after rm+sync)"
cw=(); cc=(); bw=(); bc=()
one_curl() { rm -f "$work/out/c.bin"; sync; /usr/bin/time -f "%e %U %S" -o "$work/t" curl -s -o "$work/out/c.bin" "$base/big.bin"
             read -r w u s < "$work/t"; cw+=("$w"); cc+=("$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')"); }
one_bitsd() { rm -f "$work/out/b.bin"; sync; local c0 c1; c0=$(cpu)
              w=$(/usr/bin/python3 scripts/bench/bench_download.py "$address" "$base/big.bin" "$work/out/b.bin" 2>/dev/null)
              c1=$(cpu); bw+=("$w"); bc+=("$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{print (b-a)/hz}')"); }
for r in $(seq "$ROUNDS"); do if ((r % 2)); then one_curl; one_bitsd; else one_bitsd; one_curl; fi; done
cmp -s "$work/out/b.bin" "$work/www/big.bin" || { echo MISMATCH; exit 1; }
echo "   rounds (wall/cpu): curl ${cw[*]} / ${cc[*]}; bitsd ${bw[*]} / ${bc[*]}"
awk -v a="$(median "${cw[@]}")" -v b="$(median "${bw[@]}")" -v c="$(median "${cc[@]}")" -v d="$(median "${bc[@]}")" \
  'BEGIN { printf "   wall: curl -o %.2f s, bitsd %.2f s, ratio %.3f (bitsd also fsyncs)\n   cpu:  curl %.2f s, bitsd daemon %.2f s, ratio %.3f\n", a, b, b/a, c, d, d/c }'
fi
