#!/bin/bash
# The per-user instance end to end, run by scripts/test-install.sh as an unprivileged user
# inside `dbus-run-session` against the installed files:
#   XDG_STATE_HOME=DIR/state dbus-run-session -- session_instance_check.sh URL DIR
# URL is a file to download; DIR a directory of the user's for the downloads. XDG_STATE_HOME
# is set before the session bus starts, so that the instance it activates inherits it.
# The first bitsctl call activates `bitsd --session` through the installed session-bus
# activation file. Prints PASS:/FAIL: lines; exits 1 if anything failed.
set -u
url=$1 dir=$2
: "${XDG_STATE_HOME:?set XDG_STATE_HOME before dbus-run-session}"
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
owner_pid() {
  busctl --user call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    GetConnectionUnixProcessID s org.example.Bits 2>/dev/null | awk '{print $2}'
}
me=$(id -u)

check "bitsctl transfer --session: the first call activates the per-user instance and the file arrives" \
  bitsctl transfer --session "$url" "$dir/now.bin"
pid=$(owner_pid)
check "the owner of org.example.Bits (pid ${pid:-none}) is /usr/local/sbin/bitsd --session, running as uid $me" bash -c '
  [ -n "$1" ] && [ "$(readlink /proc/$1/exe)" = /usr/local/sbin/bitsd ] &&
  [ "$(awk "/^Uid:/ {print \$2}" /proc/$1/status)" = "$2" ] &&
  tr "\0" " " < /proc/$1/cmdline | grep -qx -- "/usr/local/sbin/bitsd --session "' _ "$pid" "$me"
check "the queue is in \$XDG_STATE_HOME/bits, mode 0700, the user's" \
  test "$(stat -c '%a %u' "$XDG_STATE_HOME/bits" 2>/dev/null)" = "700 $me"

job=$(bitsctl create --session "kept across a restart")
bitsctl add-file --session "$job" "$url" "$dir/later.bin" >/dev/null
bitsctl set --session "$job" NotifyCommandLine -- /bin/sh -c "id -u > $dir/notified"
denied=$(busctl --user call org.example.Bits /org/example/Bits org.example.Bits.Manager ListJobs b true 2>&1)
check "an administrator-only call is refused: ListJobs(all_users) → $denied" \
  bash -c '[[ $1 == *"Access denied"* || $1 == *AccessDenied* ]]' _ "$denied"
taken=$(busctl --user call org.example.Bits "/org/example/Bits/jobs/${job//-/}" org.example.Bits.Job TakeOwnership 2>&1)
check "TakeOwnership is refused too: $taken" bash -c '[[ $1 == *"Access denied"* || $1 == *AccessDenied* ]]' _ "$taken"

kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "the instance stops on SIGTERM" bash -c '! kill -0 $1 2>/dev/null' _ "$pid"
listed=$(bitsctl list --session 2>&1)
check "after a restart (activated again by bitsctl list) the queued job is still there" \
  bash -c '[[ $1 == *"kept across a restart"* ]]' _ "$listed"
check "a new instance answered (pid $(owner_pid), was $pid)" bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$(owner_pid)" "$pid"
bitsctl resume --session "$job" >/dev/null
check "the job resumes after the restart and is transferred" bitsctl wait --session "$job"
check "Complete publishes it" bitsctl complete --session "$job"
check "both downloads are the user's files" bash -c '[ "$(stat -c %u "$1" "$2" | sort -u)" = "$3" ]' _ "$dir/now.bin" "$dir/later.bin" "$me"
for _ in $(seq 50); do [ -s "$dir/notified" ] && break; sleep 0.1; done
check "NotifyCommandLine ran as the user (no identity switch needed): $(cat "$dir/notified" 2>/dev/null)" \
  test "$(cat "$dir/notified" 2>/dev/null)" = "$me"
kill -TERM "$(owner_pid)" 2>/dev/null
exit $((failures > 0))
