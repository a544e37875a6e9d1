#!/usr/bin/env bash
# Durable-queue benchmarks (issue #4), each beside its baseline from the same run:
#  1. CreateJob+AddFile through bitsd (every reply on disk: WAL, synchronous=FULL) vs
#     Peer.Ping round trips on the same connection.
#  2. Start-up with 10,000 persisted jobs (administrator-created; limits raised in the
#     config): time from exec to the first answered ListJobs, vs the same with an empty queue.
#  3. Idle daemon with 10,000 jobs and no transfers: CPU ticks and context switches over 30 s.
BITSD_CONFIG=$'[Limits]\nMaxJobsPerUser=20000\nMaxJobsPerMachine=20000'
source "$(dirname "$0")/bench-lib.sh"
JOBS=${JOBS:-10000}
mgr=(org.example.Bits /org/example/Bits org.example.Bits.Manager)
mkdir -p "$work/out"

echo "== 1. 200 x (CreateJob + AddFile), each reply durable, vs 400 Peer.Ping"
t0=$(date +%s.%N)
for i in $(seq 200); do
  job=$(busctl --address="$address" call "${mgr[@]}" CreateJob ss "j$i" download | cut -d'"' -f2)
  busctl --address="$address" call org.example.Bits "$job" org.example.Bits.Job AddFile ss "http://127.0.0.1:9/f$i" "$work/out/f$i" >/dev/null
done
t1=$(date +%s.%N)
for i in $(seq 400); do busctl --address="$address" call org.example.Bits /org/example/Bits org.freedesktop.DBus.Peer Ping >/dev/null; done
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "   bitsd %.1f ms per CreateJob+AddFile pair; busctl Ping %.1f ms per call (two calls: %.1f ms); ratio %.2f\n", (b-a)*5, (c-b)*2.5, (c-b)*5, (b-a)/(c-b) }'

launch() {
  "$bitsd" --address "$address" --state-directory "$work/state" --config "$work/bitsd.conf" \
    > /dev/null 2>> "$work/bitsd.log" & bitsd_pid=$!; pids+=($bitsd_pid)
}
restart() {  # restart bitsd; sets $took to the seconds from exec to the first answered ListJobs
  kill "$bitsd_pid"; wait "$bitsd_pid" 2>/dev/null || true
  local t0 t1
  t0=$(date +%s.%N)
  launch
  until busctl --address="$address" call "${mgr[@]}" ListJobs b true >/dev/null 2>&1; do sleep 0.005; done
  t1=$(date +%s.%N)
  took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b-a }')
}

echo "== 2. Start-up: empty queue vs $JOBS persisted jobs (each with one file)"
busctl --address="$address" call "${mgr[@]}" ListJobs b true | awk '{print "   jobs before cloning: " $2}'
for job in $(busctl --address="$address" call "${mgr[@]}" ListJobs b true | grep -o '"/[^"]*"' | tr -d '"'); do
  busctl --address="$address" call org.example.Bits "$job" org.example.Bits.Job Cancel
done
restart; empty=$took
# One real job (made by the daemon), cloned with fresh ids in SQL.
job=$(busctl --address="$address" call "${mgr[@]}" CreateJob ss template download | cut -d'"' -f2)
busctl --address="$address" call org.example.Bits "$job" org.example.Bits.Job AddFile ss "http://127.0.0.1:9/x" "$work/out/x" >/dev/null
kill "$bitsd_pid"; wait "$bitsd_pid" 2>/dev/null || true
sqlite3 "$work/state/queue.sqlite" <<SQL
CREATE TEMP TABLE ids AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $JOBS - 1)
  SELECT lower(hex(randomblob(16))) AS id, i FROM n;
INSERT INTO job (id, owner, state, created, document, activity)
  SELECT ids.id, job.owner, job.state, job.created + ids.i, json_set(job.document, '\$.id.hex', ids.id), job.activity
  FROM ids, job;
INSERT INTO file (job_id, idx, document)
  SELECT ids.id, 0, json_set(file.document, '\$.localName', '$work/out/x' || ids.i, '\$.temporaryName', '$work/out/BIT' || ids.i || '.tmp')
  FROM ids, file;
SQL
launch
until busctl --address="$address" status org.example.Bits >/dev/null 2>&1; do sleep 0.01; done
restart; full=$took
count=$(busctl --address="$address" call "${mgr[@]}" ListJobs b true | awk '{print $2}')
echo "   empty queue: serving after ${empty} s; ${count} jobs: serving after ${full} s (goal <= 2 s)"

echo "== 3. Idle with $count jobs, no transfers: 30 s"
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$bitsd_pid/stat"; }
# Context switches per thread (threads come and go: a thread new at the end counts whole).
switches() { for t in /proc/$bitsd_pid/task/*; do echo "${t##*/} $(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")"; done; }
c0=$(ticks); switches > "$work/s0"; sleep 30; c1=$(ticks); switches > "$work/s1"
woken=$(awk 'NR == FNR { before[$1] = $2; next } { s += $2 - before[$1] } END { print s + 0 }' "$work/s0" "$work/s1")
echo "   bitsd: $((c1 - c0)) CPU ticks ($(getconf CLK_TCK)/s) and $woken thread wake-ups (context switches) in 30 s; rss $(awk '/VmRSS/ {print $2, $3}' /proc/$bitsd_pid/status)"
