#!/usr/bin/env bash
# Installation test (run as root): `make install` / `make uninstall` / `make purge`.
#
#  a. DESTDIR staging with PREFIX=/usr: the exact list of files, the paths written into the
#     activation file and the unit, file modes, the default configuration parses, a changed
#     configuration survives install and uninstall, and uninstall + purge leave nothing.
#  b. The real system (PREFIX=/usr/local): snapshot of the trees install touches, install,
#     D-Bus activation on the real system bus (started here if none runs) through dbus-daemon's
#     setuid launch helper, a download through the installed daemon, calls as an unprivileged
#     user, uninstall + purge, and the same snapshot again (nothing left behind).
#  c. `systemd-analyze verify` of the installed unit (done inside b, while it is installed).
#  d. Activation through systemd: systemd as PID 1 of new PID/mount/UTS/IPC/cgroup namespaces
#     on a throw-away root (an overlay of / whose writes go to a tmpfs, private /dev, /run and
#     /tmp, read-only /proc/sys and /sys, its own cgroup subtree), its own dbus.service;
#     `make install` there, a call starts bitsd.service, enable, `make uninstall` disables and
#     removes it. Skipped (with the reason) where that cannot run, and when systemd is PID 1
#     of this machine (then b already activates through systemd).
#
# Everything it starts or creates is stopped and removed on exit, also on failure. It refuses
# to run where bitsd is already installed or /etc/bits or /var/lib/bits exist (purge would
# remove them). BUILD_DIR (default .build-install) is the scratch path of the release build.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
BUILD_DIR=${BUILD_DIR:-$repo/.build-install}
MAKE=(make --no-print-directory -C "$repo" BUILD_DIR="$BUILD_DIR")

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
die() { fail "$*"; exit 1; }

work=$(mktemp -d /var/tmp/bitsd-install-test.XXXXXX)
chmod 755 "$work"
bus_pid=        # a system bus this script started
http_pid=       # the loopback HTTP server
daemon_pid=     # bitsd activated on the real system bus
ns_unshare=     # unshare process of the systemd namespace
ns_pid=         # systemd (PID 1 of that namespace) as seen from here
cgroup_name=bitsd-install-test-$$
real_installed=
saved=()        # files of other tests that the real install overwrites: path, copy

cleanup() {
  set +e
  if [ -n "$ns_pid" ]; then kill -KILL "$ns_pid" 2>/dev/null; fi
  if [ -n "$ns_unshare" ]; then wait "$ns_unshare" 2>/dev/null; fi
  for root in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
    [ -d "$root/$cgroup_name" ] || continue
    for _ in $(seq 50); do
      find "$root/$cgroup_name" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$root/$cgroup_name" ] || break
      sleep 0.1
    done
  done
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$real_installed" ]; then "${MAKE[@]}" purge >/dev/null 2>&1; fi
  local i
  for ((i = 0; i < ${#saved[@]}; i += 2)); do
    [ -e "${saved[i]}" ] || cp -p "${saved[i+1]}" "${saved[i]}"
  done
  if [ -n "$http_pid" ]; then kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null; fi
  if [ -n "$bus_pid" ]; then
    kill -TERM "$bus_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$bus_pid" 2>/dev/null || break; sleep 0.1; done
    rm -f /run/dbus/pid /run/dbus/system_bus_socket
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls a command until it succeeds: wait_for SECONDS CMD...
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}

has_bitsctl=
if "${MAKE[@]}" -s install-build >"$work/build.log" 2>&1; then
  [ -x "$BUILD_DIR/release/bitsctl" ] && has_bitsctl=1
else
  cat "$work/build.log"; die "release build (make install-build)"
fi

# ---------------------------------------------------------------------------------------------
echo "== a. staged install: make install DESTDIR=... PREFIX=/usr"
stage=$work/stage
if "${MAKE[@]}" install DESTDIR="$stage" PREFIX=/usr >"$work/a-install.log" 2>&1; then
  pass "make install DESTDIR=$stage PREFIX=/usr"
else
  cat "$work/a-install.log"; die "make install DESTDIR=$stage PREFIX=/usr"
fi
expected=(
  /etc/bits/bitsd.conf
  /usr/lib/systemd/system/bitsd.service
  /usr/lib/systemd/user/bitsd.service
  /usr/sbin/bitsd
  /usr/share/dbus-1/interfaces/org.example.Bits.File.xml
  /usr/share/dbus-1/interfaces/org.example.Bits.Job.xml
  /usr/share/dbus-1/interfaces/org.example.Bits.Manager.xml
  /usr/share/dbus-1/services/org.example.Bits.service
  /usr/share/dbus-1/system-services/org.example.Bits.service
  /usr/share/dbus-1/system.d/org.example.Bits.conf
  /usr/share/doc/bitsd/50-org.example.bits.rules
  /usr/share/doc/bitsd/README.md
  /usr/share/doc/bitsd/bitsd.conf
  /usr/share/doc/bitsd/installed-directories
  /usr/share/man/man8/bitsd.8
  /usr/share/polkit-1/actions/org.example.bits.policy
)
if [ -n "$has_bitsctl" ]; then
  expected+=(
    /usr/bin/bitsctl
    /usr/share/bash-completion/completions/bitsctl
    /usr/share/fish/vendor_completions.d/bitsctl.fish
    /usr/share/man/man1/bitsctl.1
    /usr/share/zsh/site-functions/_bitsctl
  )
else
  echo "   (no bitsctl product in Package.swift: bitsctl, its completions and man page are not expected)"
fi
printf '%s\n' "${expected[@]}" | LC_ALL=C sort > "$work/expected"
(cd "$stage" && find . ! -type d | sed 's|^\.||' | LC_ALL=C sort) > "$work/actual"
if diff -u "$work/expected" "$work/actual" > "$work/files.diff"; then
  pass "exactly the ${#expected[@]} expected files are installed"
else
  cat "$work/files.diff"; fail "installed file list"
fi
check "activation file: Exec=/usr/sbin/bitsd --system (the interface XML is compiled in)" \
  grep -qx 'Exec=/usr/sbin/bitsd --system' \
  "$stage/usr/share/dbus-1/system-services/org.example.Bits.service"
check "unit: ExecStart=/usr/sbin/bitsd --system (the interface XML is compiled in)" \
  grep -qx 'ExecStart=/usr/sbin/bitsd --system' \
  "$stage/usr/lib/systemd/system/bitsd.service"
check "no /usr/local path left outside comments in the activation file and the unit" \
  bash -c '! grep -Hn "^[^#]*/usr/local" "$1" "$2"' _ "$stage/usr/share/dbus-1/system-services/org.example.Bits.service" \
  "$stage/usr/lib/systemd/system/bitsd.service"
check "activation file and unit name each other (SystemdService=, Alias=, BusName=)" bash -c '
  grep -qx "SystemdService=bitsd.service" "$1" && grep -qx "Name=org.example.Bits" "$1" &&
  grep -qx "User=root" "$1" && grep -qx "BusName=org.example.Bits" "$2" &&
  grep -qx "Alias=dbus-org.example.Bits.service" "$2"' _ \
  "$stage/usr/share/dbus-1/system-services/org.example.Bits.service" "$stage/usr/lib/systemd/system/bitsd.service"
check "per-user instance: session activation file and user unit run /usr/sbin/bitsd --session and name each other" bash -c '
  grep -qx "Exec=/usr/sbin/bitsd --session" "$1" && grep -qx "SystemdService=bitsd.service" "$1" &&
  grep -qx "Name=org.example.Bits" "$1" && ! grep -q "^User=" "$1" &&
  grep -qx "ExecStart=/usr/sbin/bitsd --session" "$2" && grep -qx "BusName=org.example.Bits" "$2" &&
  ! grep -Hn "^[^#]*/usr/local" "$1" "$2"' _ \
  "$stage/usr/share/dbus-1/services/org.example.Bits.service" "$stage/usr/lib/systemd/user/bitsd.service"
bad_modes=$(cd "$stage" && find . ! -type d -printf '%m %p\n' | while read -r mode path; do
  case $path in ./usr/sbin/bitsd|./usr/bin/bitsctl) want=755;; *) want=644;; esac
  [ "$mode" = "$want" ] || echo "$path has mode $mode, expected $want"
done; find . -type d ! -perm 755 -printf '%p has mode %m, expected 755\n')
if [ -z "$bad_modes" ]; then pass "modes: binaries 0755, every other file 0644, directories 0755"
else echo "$bad_modes"; fail "file modes"; fi
check "xmllint: bus policy, polkit actions and interface XML are well-formed" \
  xmllint --noout "$stage"/usr/share/dbus-1/system.d/org.example.Bits.conf \
  "$stage"/usr/share/polkit-1/actions/org.example.bits.policy "$stage"/usr/share/dbus-1/interfaces/*.xml
check "man page bitsd(8) renders" bash -c 'man -l "$1" 2>/dev/null | grep -q "^NAME"' _ "$stage/usr/share/man/man8/bitsd.8"
if [ -n "$has_bitsctl" ]; then
  check "man page bitsctl(1) renders" bash -c 'man -l "$1" 2>/dev/null | grep -q "^NAME"' _ "$stage/usr/share/man/man1/bitsctl.1"
  check "bash completion parses and defines a completion for bitsctl" \
    bash -c 'source "$1" && complete -p bitsctl >/dev/null' _ "$stage/usr/share/bash-completion/completions/bitsctl"
  check "zsh and fish completions are generated (#compdef bitsctl, complete -c bitsctl)" bash -c '
    head -1 "$1" | grep -q "^#compdef bitsctl" && grep -q "complete -c .*bitsctl" "$2"' _ \
    "$stage/usr/share/zsh/site-functions/_bitsctl" "$stage/usr/share/fish/vendor_completions.d/bitsctl.fish"
  check "installed bitsctl runs (--version)" bash -c '"$1" --version >/dev/null' _ "$stage/usr/bin/bitsctl"
fi
# The default configuration parses: the daemon reads it before connecting to the bus, so with no
# bus it exits 1 ("cannot connect"), while a configuration error exits 78. Also with every key
# uncommented (the shown defaults are valid values).
config_exit() {
  timeout 20 "$stage/usr/sbin/bitsd" --address "unix:path=$work/no-bus" --state-directory "$work/cfg-state" \
    --config "$1" >/dev/null 2>&1
  echo $?
}
sed -E 's/^#([A-Za-z]+=)/\1/' "$stage/etc/bits/bitsd.conf" > "$work/all-keys.conf"
printf '[Limits]\nMaxJobsPerUser=60 # not a comment\n' > "$work/bad.conf"
check "installed bitsd.conf parses (exit 1 = no bus, not 78)" test "$(config_exit "$stage/etc/bits/bitsd.conf")" = 1
check "bitsd.conf with all $(grep -c '^[A-Za-z]' "$work/all-keys.conf") keys uncommented parses" \
  test "$(config_exit "$work/all-keys.conf")" = 1
check "a bad configuration exits 78 (the check above can fail)" test "$(config_exit "$work/bad.conf")" = 78
rm -rf "$work/cfg-state"
# A changed configuration is never overwritten and survives uninstall; purge removes it.
echo "# changed by the administrator" >> "$stage/etc/bits/bitsd.conf"
cp "$stage/etc/bits/bitsd.conf" "$work/changed.conf"
"${MAKE[@]}" install DESTDIR="$stage" PREFIX=/usr >"$work/a-reinstall.log" 2>&1 || { cat "$work/a-reinstall.log"; fail "second make install"; }
check "a second install keeps the changed /etc/bits/bitsd.conf" cmp -s "$stage/etc/bits/bitsd.conf" "$work/changed.conf"
"${MAKE[@]}" uninstall DESTDIR="$stage" PREFIX=/usr >"$work/a-uninstall.log" 2>&1 || { cat "$work/a-uninstall.log"; fail "make uninstall"; }
left=$(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')
check "uninstall keeps only the changed configuration (left: $left)" test "$left" = "./etc ./etc/bits ./etc/bits/bitsd.conf "
mkdir -p "$stage/var/lib/bits" && touch "$stage/var/lib/bits/queue.sqlite"
"${MAKE[@]}" purge DESTDIR="$stage" PREFIX=/usr >"$work/a-purge.log" 2>&1 || { cat "$work/a-purge.log"; fail "make purge"; }
# $stage/var was made by this test; $stage/etc by the first install, whose list of created
# directories went with the uninstall that kept the changed configuration.
rmdir "$stage/var/lib" "$stage/var" "$stage/etc" 2>/dev/null
check "purge removed the changed configuration and the state directory" test ! -e "$stage/etc/bits" -a ! -e "$stage/var/lib/bits"
# Install + uninstall of an unchanged configuration leaves nothing at all.
"${MAKE[@]}" install DESTDIR="$stage" PREFIX=/usr >"$work/a-install2.log" 2>&1 || { cat "$work/a-install2.log"; fail "make install"; }
"${MAKE[@]}" uninstall DESTDIR="$stage" PREFIX=/usr >"$work/a-uninstall2.log" 2>&1 || { cat "$work/a-uninstall2.log"; fail "make uninstall"; }
left=$(cd "$stage" && find . -mindepth 1 | head -5 | tr '\n' ' ')
check "make uninstall DESTDIR=... leaves no file and no directory${left:+ (left: $left)}" test -z "$left"

# ---------------------------------------------------------------------------------------------
echo "== b. real system: make install (PREFIX=/usr/local), activation, a download, uninstall, purge"
for p in /usr/local/sbin/bitsd /usr/local/bin/bitsctl /usr/local/share/dbus-1/system-services/org.example.Bits.service \
         /usr/local/lib/systemd/system/bitsd.service /etc/bits /var/lib/bits; do
  [ -e "$p" ] && die "$p exists: bitsd is installed or has state here; this test would replace or purge it"
done
# The integration tests (and scripts/quickstart.sh) copy these two while they run; keep a copy to
# put back after uninstall.
for p in /usr/share/polkit-1/actions/org.example.bits.policy /usr/share/dbus-1/system.d/org.example.Bits.conf; do
  if [ -e "$p" ]; then cp -p "$p" "$work/saved.${p##*/}"; saved+=("$p" "$work/saved.${p##*/}"); echo "   (pre-existing $p will be restored)"; fi
done

snapshot() {
  local t
  for t in /usr/local /usr/share/dbus-1 /usr/share/polkit-1/actions /etc/bits /etc/dbus-1 \
           /usr/lib/systemd/system /etc/systemd/system /var/lib/bits; do
    if [ -e "$t" ]; then
      find "$t" \( -type d -printf 'd %m %u:%g %p\n' \) -o -printf '%y %m %u:%g %s %T@ %p -> %l\n'
    else
      echo "absent $t"
    fi
  done | LC_ALL=C sort
}
snapshot > "$work/before.snap"

bus_ok() { busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId >/dev/null 2>&1; }
if bus_ok; then
  echo "   using the running system bus"
else
  [ -S /run/dbus/system_bus_socket ] && die "/run/dbus/system_bus_socket exists but does not answer"
  if [ -e /run/dbus/pid ]; then
    kill -0 "$(cat /run/dbus/pid)" 2>/dev/null && die "/run/dbus/pid names a running process but the bus does not answer"
    rm -f /run/dbus/pid
  fi
  mkdir -p /run/dbus
  bus_pid=$(dbus-daemon --system --fork --print-pid) || die "dbus-daemon --system"
  wait_for 10 bus_ok || die "the system bus started here does not answer"
  echo "   started the system bus (dbus-daemon --system, pid $bus_pid)"
fi
name_has_owner() {
  "$@" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner s org.example.Bits
}
[ "$(name_has_owner busctl --system)" = "b false" ] || die "org.example.Bits already has an owner on the system bus"

if "${MAKE[@]}" install >"$work/b-install.log" 2>&1; then
  real_installed=1; pass "make install (PREFIX=/usr/local)"
else
  real_installed=1; cat "$work/b-install.log"; die "make install"
fi
check "make install asked the system bus to reload its configuration" grep -qx "system bus: configuration reloaded" "$work/b-install.log"
check "make install did not run systemctl daemon-reload (systemd is not PID 1)" \
  bash -c '[ "$(cat /proc/1/comm)" = systemd ] || ! grep -q "systemd: units reloaded" "$1"' _ "$work/b-install.log"

echo "== c. systemd-analyze verify of the installed unit"
if systemd-analyze verify /usr/local/lib/systemd/system/bitsd.service >"$work/verify.log" 2>&1 && [ ! -s "$work/verify.log" ]; then
  pass "systemd-analyze verify /usr/local/lib/systemd/system/bitsd.service: no findings"
else
  cat "$work/verify.log"; fail "systemd-analyze verify"
fi
exposure=$(systemd-analyze security --offline=true /usr/local/lib/systemd/system/bitsd.service 2>/dev/null |
           sed -n 's/.*Overall exposure level for bitsd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security: exposure $exposure < 4.0" awk -v e="$exposure" 'BEGIN { exit !(e != "" && e < 4.0) }'

echo "== b. (continued) activation on the system bus"
helper=/usr/lib/dbus-1.0/dbus-daemon-launch-helper
check "launch helper $helper is setuid root, group messagebus, mode 4754" \
  test "$(stat -c '%a %U %G' "$helper" 2>/dev/null)" = "4754 root messagebus"
check "org.example.Bits has no owner before the first call" test "$(name_has_owner busctl --system)" = "b false"
version=$(busctl --system call org.example.Bits /org/example/Bits org.freedesktop.DBus.Properties Get ss \
          org.example.Bits.Manager Version 2>&1)
check "the first call activates the service: Version = $version" bash -c '[[ $1 == "v s \""*"\"" ]]' _ "$version"
owner=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        GetConnectionUnixProcessID s org.example.Bits 2>/dev/null | awk '{print $2}')
daemon_pid=$owner
check "the owner (pid ${owner:-none}) runs /usr/local/sbin/bitsd as root" bash -c '
  [ -n "$1" ] && [ "$(readlink /proc/$1/exe)" = /usr/local/sbin/bitsd ] &&
  [ "$(awk "/^Uid:/ {print \$2}" /proc/$1/status)" = 0 ]' _ "$owner"
check "it runs without --interface-directory (the interface XML is compiled in)" \
  bash -c 'tr "\0" " " < /proc/$1/cmdline | grep -qx -- "/usr/local/sbin/bitsd --system "' _ "$owner"

# A download through the installed daemon, as root, from a loopback HTTP server.
# transfer BUSCTL... -- URL DESTINATION: CreateJob, AddFile, Resume, wait for "transferred", Complete.
transfer() {
  local bus=() url dst job state
  while [ "$1" != -- ]; do bus+=("$1"); shift; done; shift
  url=$1 dst=$2
  job=$("${bus[@]}" call org.example.Bits /org/example/Bits org.example.Bits.Manager CreateJob ss \
        "install test" download | cut -d'"' -f2) || return 1
  [ -n "$job" ] || return 1
  "${bus[@]}" call org.example.Bits "$job" org.example.Bits.Job AddFile ss "$url" "$dst" >/dev/null || return 1
  "${bus[@]}" set-property org.example.Bits "$job" org.example.Bits.Job Priority s foreground || return 1
  "${bus[@]}" call org.example.Bits "$job" org.example.Bits.Job Resume || return 1
  for _ in $(seq 600); do
    state=$("${bus[@]}" get-property org.example.Bits "$job" org.example.Bits.Job State)
    case $state in
      's "transferred"') break;;
      's "error"') "${bus[@]}" get-property org.example.Bits "$job" org.example.Bits.Job ErrorCode ErrorDescription; return 1;;
    esac
    sleep 0.1
  done
  [ "$state" = 's "transferred"' ] || { echo "state: $state"; return 1; }
  "${bus[@]}" call org.example.Bits "$job" org.example.Bits.Job Complete || return 1
}
mkdir -p "$work/www" "$work/dl"
head -c 8M /dev/urandom > "$work/www/payload.bin"
/usr/bin/python3 Tests/Support/faultserver.py --root "$work/www" --port 0 --port-file "$work/port" >"$work/http.log" 2>&1 &
http_pid=$!
wait_for 10 test -s "$work/port" || die "faultserver did not start"
url="http://127.0.0.1:$(cat "$work/port")/payload.bin"
check "download of 8 MiB over HTTP through the installed daemon (CreateJob, AddFile, Resume, Complete)" \
  transfer busctl --system -- "$url" "$work/dl/payload.bin"
check "the downloaded file has the source's sha256" \
  test "$(sha256sum < "$work/www/payload.bin")" = "$(sha256sum < "$work/dl/payload.bin" 2>/dev/null)"

# An unprivileged user (nobody): the bus policy lets it call the service, and only the service.
as_nobody() { runuser -u nobody -- "$@"; }
check "nobody: ListJobs(false) is allowed and lists none of root's jobs" \
  test "$(as_nobody busctl --system call org.example.Bits /org/example/Bits org.example.Bits.Manager ListJobs b false 2>&1)" = "ao 0"
nobody_job=$(as_nobody busctl --system call org.example.Bits /org/example/Bits org.example.Bits.Manager CreateJob ss \
             "nobody's job" download 2>&1 | cut -d'"' -f2)
check "nobody: CreateJob ($nobody_job) and Cancel" \
  as_nobody busctl --system call org.example.Bits "$nobody_job" org.example.Bits.Job Cancel
denied=$(as_nobody busctl --system call org.example.Bits /org/example/Bits org.freedesktop.DBus.Debug.Stats GetStats 2>&1)
check "nobody: an interface the policy does not list is refused by the bus ($denied)" \
  bash -c '[[ $1 == *"Access denied"* || $1 == *AccessDenied* ]]' _ "$denied"
if [ -n "$has_bitsctl" ]; then
  check "nobody: installed bitsctl talks to the service (bitsctl version)" \
    bash -c 'out=$(runuser -u nobody -- /usr/local/bin/bitsctl version 2>&1) && [[ $out == *"0."* ]]'
fi

# The per-user instance of an unprivileged user, activated on its own session bus through the
# installed session activation file (Tests/Support/session_instance_check.sh says what it checks).
if [ -n "$has_bitsctl" ]; then
  mkdir -p "$work/session" && chown nobody: "$work/session"
  install -m 0755 Tests/Support/session_instance_check.sh "$work/session_instance_check.sh"
  if runuser -u nobody -- env PATH=/usr/local/bin:/usr/bin:/bin XDG_STATE_HOME="$work/session/state" \
       dbus-run-session -- "$work/session_instance_check.sh" "$url" "$work/session" >"$work/session.log" 2>&1; then
    sed 's/^/   /' "$work/session.log"; pass "per-user instance (bitsd --session) as nobody under dbus-run-session"
  else
    sed 's/^/   /' "$work/session.log"; fail "per-user instance (bitsd --session) as nobody under dbus-run-session"
  fi
fi

# Stop the daemon as its owner would be stopped, then remove everything.
kill -TERM "$owner" 2>/dev/null
check "bitsd exits on SIGTERM" wait_for 10 bash -c "! kill -0 $owner 2>/dev/null"
daemon_pid=
check "org.example.Bits has no owner after the daemon stopped" test "$(name_has_owner busctl --system)" = "b false"
check "make uninstall" "${MAKE[@]}" uninstall >"$work/b-uninstall.log" 2>&1
check "make purge" "${MAKE[@]}" purge >"$work/b-purge.log" 2>&1
real_installed=
for ((i = 0; i < ${#saved[@]}; i += 2)); do cp -p "${saved[i+1]}" "${saved[i]}"; done
check "after uninstall the bus no longer knows the service" bash -c '
  out=$(busctl --system call org.example.Bits /org/example/Bits org.freedesktop.DBus.Peer Ping 2>&1); [[ $out == *"not provided by any .service files"* ]]'
snapshot > "$work/after.snap"
if diff -u "$work/before.snap" "$work/after.snap" > "$work/snap.diff"; then
  pass "snapshot of /usr/local, /usr/share/dbus-1, polkit actions, /etc/bits, /etc/dbus-1, unit directories, /var/lib/bits is identical ($(wc -l < "$work/before.snap") entries)"
else
  cat "$work/snap.diff"; fail "something was left behind (or removed): snapshot differs"
fi
kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null; http_pid=

# ---------------------------------------------------------------------------------------------
echo "== d. activation through systemd (systemd as PID 1 of its own namespaces)"
skip_d=
if [ "$(cat /proc/1/comm)" = systemd ]; then
  skip_d="systemd is PID 1 here, so b already activated bitsd through systemd"
elif [ ! -x /lib/systemd/systemd ]; then
  skip_d="no /lib/systemd/systemd (Debian package systemd)"
elif ! grep -qw overlay /proc/filesystems; then
  skip_d="the kernel has no overlay filesystem"
elif ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null; then
  skip_d="no unshare/nsenter (util-linux)"
fi
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  cgroup_mode=unified
elif [ "$(stat -fc %T /sys/fs/cgroup/systemd 2>/dev/null)" = cgroupfs ]; then
  cgroup_mode=hybrid
else
  skip_d=${skip_d:-"neither a cgroup2 /sys/fs/cgroup nor a name=systemd hierarchy at /sys/fs/cgroup/systemd"}
fi

if [ -n "$skip_d" ]; then
  echo "SKIP: d ($skip_d)"
else
  # PID 1 of the new namespaces: builds the throw-away root (an overlay of /) and boots systemd there.
  cat > "$work/ns-init.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
W=$1 cgroup_mode=$2 repo=$3
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$W"
mkdir -p "$W/upper" "$W/work" "$W/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/upper,workdir=$W/work" "$W/root"
# The root's file systems, then systemd as PID 1 (scripts/systemd-root-init.sh).
exec bash "$repo/scripts/systemd-root-init.sh" "$W/root" "$cgroup_mode" bitsd-install-test "$repo"
EOF
  mkdir "$work/ns"
  # A cgroup of its own: systemd in the cgroup namespace manages only this subtree.
  if [ "$cgroup_mode" = unified ]; then cgroup_roots=(/sys/fs/cgroup)
  else cgroup_roots=(/sys/fs/cgroup/systemd /sys/fs/cgroup/unified); fi
  for root in "${cgroup_roots[@]}"; do mkdir "$root/$cgroup_name"; done
  (
    for root in "${cgroup_roots[@]}"; do echo "$BASHPID" > "$root/$cgroup_name/cgroup.procs"; done
    exec unshare --pid --fork --mount --uts --ipc --cgroup bash "$work/ns-init.sh" "$work/ns" "$cgroup_mode" "$repo"
  ) >"$work/ns.log" 2>&1 &
  ns_unshare=$!
  wait_for 10 bash -c "pgrep -P $ns_unshare >/dev/null" && ns_pid=$(pgrep -P "$ns_unshare")
  ns() { nsenter -t "$ns_pid" -m -p -u -i -C -r -w "$@"; }
  booted() { case $(ns systemctl is-system-running 2>/dev/null) in running|degraded) return 0;; *) return 1;; esac; }
  if [ -z "$ns_pid" ] || ! wait_for 60 booted; then
    cat "$work/ns.log"; fail "systemd did not come up as PID 1 of the namespaces"
  else
    pass "systemd runs as PID 1 of its namespaces (host pid $ns_pid; $(ns systemctl is-system-running))"
    check "systemctl start dbus.service (bus with --systemd-activation)" \
      bash -c "$(declare -f ns); ns_pid=$ns_pid; ns systemctl start dbus.service && ns systemctl show -p ExecStart --value dbus.service | grep -q -- --systemd-activation"
    if ns "${MAKE[@]}" install >"$work/d-install.log" 2>&1; then pass "make install there"; else cat "$work/d-install.log"; fail "make install there"; fi
    check "make install ran systemctl daemon-reload and reloaded the bus there" \
      bash -c 'grep -qx "systemd: units reloaded" "$1" && grep -qx "system bus: configuration reloaded" "$1"' _ "$work/d-install.log"
    check "org.example.Bits has no owner and bitsd.service is inactive before the first call" \
      bash -c "$(declare -f ns name_has_owner); ns_pid=$ns_pid
        [ \"\$(name_has_owner ns busctl --system)\" = 'b false' ] && ! ns systemctl -q is-active bitsd.service"
    version=$(ns busctl --system call org.example.Bits /org/example/Bits org.freedesktop.DBus.Properties Get ss \
              org.example.Bits.Manager Version 2>&1)
    check "the first call activates the service through systemd: Version = $version" bash -c '[[ $1 == "v s \""*"\"" ]]' _ "$version"
    check "systemctl is-active bitsd.service: active" test "$(ns systemctl is-active bitsd.service)" = active
    main_pid=$(ns systemctl show -p MainPID --value bitsd.service)
    owner=$(ns busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
            GetConnectionUnixProcessID s org.example.Bits 2>/dev/null | awk '{print $2}')
    check "the name's owner is the unit's main process (pid $owner = MainPID $main_pid)" test -n "$owner" -a "$owner" = "$main_pid"
    check "that process runs /usr/local/sbin/bitsd in the unit's cgroup (/system.slice/bitsd.service)" bash -c "
      $(declare -f ns); ns_pid=$ns_pid
      [ \"\$(ns readlink /proc/$main_pid/exe)\" = /usr/local/sbin/bitsd ] &&
      ns cat /proc/$main_pid/cgroup | grep -Eq '^(0|[0-9]+:name=systemd):/system.slice/bitsd.service\$'"
    # A download under the unit's sandbox (ProtectSystem=full, PrivateDevices=, the system call
    # filter, ...): a file:// source read as the owner, written to /var/tmp.
    ns sh -c 'mkdir -p /var/tmp/bitsd-d/dl && head -c 4M /dev/urandom > /var/tmp/bitsd-d/source.bin'
    check "download (file://) through the systemd-started daemon" \
      transfer ns busctl --system -- file:///var/tmp/bitsd-d/source.bin /var/tmp/bitsd-d/dl/copy.bin
    check "the copy has the source's sha256" \
      test "$(ns sh -c 'sha256sum < /var/tmp/bitsd-d/source.bin')" = "$(ns sh -c 'sha256sum < /var/tmp/bitsd-d/dl/copy.bin 2>/dev/null')"
    check "systemctl enable bitsd (at boot, and the dbus-org.example.Bits.service alias)" bash -c "
      $(declare -f ns); ns_pid=$ns_pid
      ns systemctl enable bitsd.service >/dev/null 2>&1 && [ \"\$(ns systemctl is-enabled bitsd.service)\" = enabled ] &&
      [ \"\$(ns readlink /etc/systemd/system/dbus-org.example.Bits.service)\" = /usr/local/lib/systemd/system/bitsd.service ]"
    if ns "${MAKE[@]}" uninstall >"$work/d-uninstall.log" 2>&1; then pass "make uninstall there"; else cat "$work/d-uninstall.log"; fail "make uninstall there"; fi
    check "uninstall disabled and stopped the unit and removed it" bash -c "
      $(declare -f ns); ns_pid=$ns_pid
      ! ns systemctl -q is-active bitsd.service && ! ns test -e /etc/systemd/system/dbus-org.example.Bits.service &&
      ! ns test -e /etc/systemd/system/multi-user.target.wants/bitsd.service &&
      ns systemctl show -p LoadState --value bitsd.service | grep -qx not-found"
    check "the bus there no longer knows the service" bash -c "
      $(declare -f ns); ns_pid=$ns_pid
      out=\$(ns busctl --system call org.example.Bits /org/example/Bits org.freedesktop.DBus.Peer Ping 2>&1)
      [[ \$out == *'not provided by any .service files'* ]]"
  fi
  kill -KILL "$ns_pid" 2>/dev/null; wait "$ns_unshare" 2>/dev/null; ns_pid= ns_unshare=
fi

echo
if [ "$failures" = 0 ]; then echo "test-install: all checks passed"; exit 0; fi
echo "test-install: $failures check(s) FAILED"; exit 1
