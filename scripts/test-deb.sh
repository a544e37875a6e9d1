#!/usr/bin/env bash
# Package test (run as root): the Debian packages on a clean Debian 12 root.
#
#  1. `make deb`: bitsd_<v>_amd64.deb, bitsctl_<v>_amd64.deb and their -dbgsym packages; their
#     files, conffiles, Depends (dpkg-shlibdeps) and lintian (no error). A "previous" package
#     (<v>~prev, the same files repacked with a lower version) for the upgrade.
#  2. A fresh root made with `debootstrap --variant=minbase bookworm` from the mirror of
#     /etc/apt/sources.list*, run in its own PID, mount, UTS and IPC namespaces (its own /proc,
#     /run and /tmp; the network is the host's, for the mirror and the loopback HTTP server).
#     There: the previous packages are installed with `apt-get install ./bitsd_….deb`, the
#     system bus is started, the first call activates bitsd (dbus-daemon's activation helper: no
#     systemd there), an ordinary user downloads with `bitsctl transfer` and queues a second job;
#     `apt-get install` of the current packages upgrades them (the daemon is stopped and started
#     again, the queued job is still there and completes); `apt-get purge` stops the daemon and
#     leaves the root as it was before the first install (file list compared).
#  3. The same root booted with systemd as PID 1 of new namespaces (its own cgroup subtree; skipped
#     where systemd is this machine's PID 1): postinst's daemon-reload, the first call starting
#     bitsd.service, an upgrade restarting the unit with the queue kept, purge stopping it.
#
# Everything runs in a work directory under /var/tmp, removed on exit, also on failure (the
# namespaces die with their PID 1). Nothing is cached: the root is downloaded each time.
# BUILD_DIR (default .build-install, the release build scripts/test-install.sh makes) is the
# Swift scratch path of `make deb`. MIRROR overrides the Debian mirror.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
BUILD_DIR=${BUILD_DIR:-$repo/.build-install}
started=$SECONDS

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
die() { fail "$*"; finish; }
finish() {
  echo
  echo "test-deb: $((SECONDS - started)) s"
  if [ "$failures" = 0 ]; then echo "test-deb: all checks passed"; exit 0; fi
  echo "test-deb: $failures check(s) FAILED"; exit 1
}

work=$(mktemp -d /var/tmp/bitsd-deb-test.XXXXXX)
chmod 755 "$work"
R=$work/root    # the clean root
ns_unshare=     # unshare process of the namespaces
ns_pid=         # PID 1 of the namespaces, as seen from here
http_pid=
cgroup_name=bitsd-deb-test-$$   # the cgroup subtree of part 3's systemd
cleanup() {
  set +e
  if [ -n "$ns_pid" ]; then kill -KILL "$ns_pid" 2>/dev/null; fi
  if [ -n "$ns_unshare" ]; then wait "$ns_unshare" 2>/dev/null; fi
  local root
  for root in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
    [ -d "$root/$cgroup_name" ] || continue
    for _ in $(seq 50); do
      find "$root/$cgroup_name" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$root/$cgroup_name" ] || break
      sleep 0.1
    done
  done
  if [ -n "$http_pid" ]; then kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null; fi
  # debootstrap mounts proc and sys in the root while it runs; nothing else is mounted here.
  for m in $(awk -v r="$R/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.2; done
}

# ---------------------------------------------------------------------------------------------
echo "== 1. make deb"
debs=$work/debs
t0=$SECONDS
if make --no-print-directory -C "$repo" deb BUILD_DIR="$BUILD_DIR" DEB_DIR="$debs" >"$work/deb.log" 2>&1; then
  pass "make deb ($((SECONDS - t0)) s)"
else
  tail -40 "$work/deb.log"; die "make deb"
fi
v=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
bitsd_deb=$debs/bitsd_${v}_amd64.deb
bitsctl_deb=$debs/bitsctl_${v}_amd64.deb
for f in "$bitsd_deb" "$bitsctl_deb" "$debs/bitsd-dbgsym_${v}_amd64.deb" "$debs/bitsctl-dbgsym_${v}_amd64.deb"; do
  [ -s "$f" ] || die "make deb made no ${f##*/}"
done
pass "packages: $(cd "$debs" && ls -s --block-size=K ./*.deb | tr '\n' ' ')"
contents() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|' | LC_ALL=C sort; }
expected_bitsd="/etc/bits/bitsd.conf
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
/usr/share/doc/bitsd/README.md.gz
/usr/share/doc/bitsd/bitsd.conf
/usr/share/doc/bitsd/changelog.gz
/usr/share/doc/bitsd/copyright
/usr/share/man/man8/bitsd.8.gz
/usr/share/polkit-1/actions/org.example.bits.policy"
expected_bitsctl="/usr/bin/bitsctl
/usr/share/bash-completion/completions/bitsctl
/usr/share/doc/bitsctl/changelog.gz
/usr/share/doc/bitsctl/copyright
/usr/share/fish/vendor_completions.d/bitsctl.fish
/usr/share/man/man1/bitsctl.1.gz
/usr/share/zsh/vendor-completions/_bitsctl"
check "bitsd's files" diff -u <(echo "$expected_bitsd") <(contents "$bitsd_deb")
check "bitsctl's files" diff -u <(echo "$expected_bitsctl") <(contents "$bitsctl_deb")
check "/etc/bits/bitsd.conf is bitsd's only conffile" \
  test "$(dpkg-deb --ctrl-tarfile "$bitsd_deb" | tar -xOf - ./conffiles)" = /etc/bits/bitsd.conf
depends=$(dpkg-deb -f "$bitsd_deb" Depends)
check "bitsd's Depends come from its libraries (dpkg-shlibdeps): $depends" \
  bash -c '[[ $1 == *libc6* && $1 == *libglib2.0-0* && $1 == *libcurl4* && $1 == *libsqlite3-0* && $1 == *dbus-system-bus* ]]' _ "$depends"
check "bitsctl's Depends: $(dpkg-deb -f "$bitsctl_deb" Depends)" \
  bash -c '[[ $1 == *libglib2.0-0* && $1 != *libcurl* && $1 != *sqlite* ]]' _ "$(dpkg-deb -f "$bitsctl_deb" Depends)"
check "the binaries are stripped; their debug symbols are in the -dbgsym packages" bash -c '
  dpkg-deb -x "$1" "$3/x" && dpkg-deb -x "$2" "$3/x" &&
  ! file "$3"/x/usr/sbin/bitsd "$3"/x/usr/bin/bitsctl | grep -q "not stripped"' _ "$bitsd_deb" "$bitsctl_deb" "$work"
# make deb ran lintian (when installed) after "lintian:".
if grep -qx 'lintian:' "$work/deb.log"; then
  sed -n '/^lintian:$/,$p' "$work/deb.log" > "$work/lintian.log"
  echo "   lintian: $(grep -c '^E:' "$work/lintian.log") errors, $(grep -c '^W:' "$work/lintian.log") warnings, $(grep -c '^I:' "$work/lintian.log") infos"
  grep -E '^(E|W):' "$work/lintian.log" | sed 's/^/   /'
  grep -E '^I:' "$work/lintian.log" | awk '{print $2, $3}' | sort | uniq -c | sed 's/^ */   I: /'
  check "lintian reports no error" bash -c '! grep -q "^E:" "$1"' _ "$work/lintian.log"
else
  echo "SKIP: lintian (not installed)"
fi
# The previous version: the same packages with version <v>~prev (lower than <v>).
prev=${v}~prev
for p in bitsd bitsctl; do
  dpkg-deb -R "$debs/${p}_${v}_amd64.deb" "$work/repack-$p"
  sed -i "s/^Version: .*/Version: $prev/" "$work/repack-$p/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz -b "$work/repack-$p" "$debs/${p}_${prev}_amd64.deb" >/dev/null || die "repacking $p as $prev"
  rm -rf "$work/repack-$p"
done

# ---------------------------------------------------------------------------------------------
echo "== 2. a clean Debian 12 root (debootstrap --variant=minbase bookworm)"
# The Debian mirror the host uses (debootstrap needs one it can reach).
sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v '^\s*#')
mirror=${MIRROR:-$(echo "$sources" | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(echo "$sources" | grep -oE 'https?://[^ ]+/debian-security/?' | head -1)
t0=$SECONDS
if debootstrap --variant=minbase bookworm "$R" "$mirror" >"$work/debootstrap.log" 2>&1; then
  pass "debootstrap from $mirror ($((SECONDS - t0)) s, $(du -sm "$R" | cut -f1) MB)"
else
  tail -20 "$work/debootstrap.log"; die "debootstrap --variant=minbase bookworm $R $mirror"
fi
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  [ -n "$security" ] && echo "deb $security bookworm-security main"
} > "$R/etc/apt/sources.list"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
# No init there: package scripts must not start services (the test starts the bus itself).
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d" && chmod 755 "$R/usr/sbin/policy-rc.d"
mkdir "$R/debs" && cp "$debs"/*.deb "$R/debs/"

# PID 1 of the namespaces: mounts /proc, /run and /tmp of the root and waits there (reaping).
cat > "$work/ns-init.sh" <<'EOF'
#!/bin/bash
set -e
R=$1
mount --make-rprivate /
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
hostname bitsd-deb-test
exec chroot "$R" /bin/bash -c 'while :; do sleep 3600 & wait; done'
EOF
unshare --pid --fork --mount --uts --ipc bash "$work/ns-init.sh" "$R" >"$work/ns.log" 2>&1 &
ns_unshare=$!
wait_for 10 bash -c "pgrep -P $ns_unshare >/dev/null" && ns_pid=$(pgrep -P "$ns_unshare")
[ -n "$ns_pid" ] || { cat "$work/ns.log"; die "the namespaces did not start"; }
# Runs a command in the root (its namespaces, its root directory).
ns() { nsenter -t "$ns_pid" -m -p -u -i -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
as_user() { ns runuser -u bitsuser -- "$@"; }
wait_for 10 ns test -d /proc/1 || die "no /proc in the root"
pass "the root runs in its own namespaces (PID 1 = host pid $ns_pid)"

# The packages' dependencies (the state "before" and "after" is compared with them in place) and
# an ordinary user.
apt_get() { ns env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }
t0=$SECONDS
apt_get update >"$work/apt-update.log" 2>&1 || { tail "$work/apt-update.log"; die "apt-get update in the root"; }
deps=$( { dpkg-deb -f "$bitsd_deb" Depends Recommends; dpkg-deb -f "$bitsctl_deb" Depends; } |
  sed 's/^[A-Za-z]*: //' | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep -vxE 'bitsd|bitsctl|' | sort -u)
apt_get install --no-install-recommends $deps systemd >"$work/apt-deps.log" 2>&1 || { tail "$work/apt-deps.log"; die "apt-get install of the dependencies"; }
pass "dependencies installed ($((SECONDS - t0)) s): $(echo $deps), and systemd (not running until part 3)"
ns useradd -m -s /bin/bash bitsuser || die "useradd bitsuser"
# Everything but what changes by itself (logs, apt's caches and lists, dpkg's own records).
snapshot() {
  ns find / -xdev \( -path /proc -o -path /run -o -path /tmp -o -path /dev -o -path /sys -o -path /debs \
      -o -path /var/log -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /home/bitsuser/dl \) -prune \
      -o -printf '%y %m %u:%g %p -> %l\n' | LC_ALL=C sort
  ns ls /var/lib/dpkg/info | grep -E '^bits' || true
}
snapshot > "$work/before.snap"

# The system bus, as the dbus package starts it (no systemd here: activation goes through
# dbus-daemon-launch-helper).
ns mkdir -p /run/dbus
ns dbus-daemon --system --fork || die "dbus-daemon --system in the root"
bus() { ns dbus-send --system --print-reply "$@"; }
wait_for 10 bus --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId >/dev/null 2>&1 ||
  die "the root's system bus does not answer"
has_owner() { bus --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.example.Bits 2>/dev/null | awk '/boolean/ {print $2}'; }
owner_pid() { bus --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetConnectionUnixProcessID string:org.example.Bits 2>/dev/null | awk '/uint32/ {print $2}'; }
pass "system bus started in the root"

# A loopback HTTP server on the host (the root shares its network).
mkdir -p "$work/www"
head -c 16M /dev/urandom > "$work/www/payload.bin"
/usr/bin/python3 Tests/Support/faultserver.py --root "$work/www" --port 0 --port-file "$work/port" >"$work/http.log" 2>&1 &
http_pid=$!
wait_for 10 test -s "$work/port" || die "faultserver did not start"
url="http://127.0.0.1:$(cat "$work/port")/payload.bin"
sum=$(sha256sum < "$work/www/payload.bin")

echo "-- install the previous version ($prev)"
t0=$SECONDS
if apt_get install "./debs/bitsd_${prev}_amd64.deb" "./debs/bitsctl_${prev}_amd64.deb" >"$work/apt-prev.log" 2>&1; then
  pass "apt-get install ./debs/bitsd_${prev}_amd64.deb ./debs/bitsctl_${prev}_amd64.deb ($((SECONDS - t0)) s)"
else
  cat "$work/apt-prev.log"; die "apt-get install of the previous packages"
fi
check "dpkg: bitsd $prev installed, /etc/bits/bitsd.conf is a conffile" bash -c "
  $(declare -f ns); ns_pid=$ns_pid
  [ \"\$(ns dpkg-query -W -f='\${Status} \${Version}' bitsd)\" = 'install ok installed $prev' ] &&
  ns dpkg-query -W -f='\${Conffiles}' bitsd | grep -q '/etc/bits/bitsd.conf'"
check "org.example.Bits has no owner before the first call" test "$(has_owner)" = false
check "bitsctl version as bitsuser: the first call activates the service" \
  bash -c "$(declare -f ns as_user); ns_pid=$ns_pid; as_user bitsctl version | grep -q ."
pid=$(owner_pid)
check "the owner (pid ${pid:-none}) runs /usr/sbin/bitsd as root" \
  bash -c "$(declare -f ns); ns_pid=$ns_pid
    [ -n '$pid' ] && [ \"\$(ns readlink /proc/$pid/exe)\" = /usr/sbin/bitsd ] &&
    ns grep -qE '^Uid:\s+0\s' /proc/$pid/status"
ns install -d -o bitsuser -g bitsuser /home/bitsuser/dl
t0=$SECONDS
if as_user bitsctl transfer "$url" /home/bitsuser/dl/now.bin >"$work/transfer.log" 2>&1; then
  pass "bitsuser: bitsctl transfer of 16 MiB over HTTP ($((SECONDS - t0)) s)"
else
  cat "$work/transfer.log"; fail "bitsuser: bitsctl transfer"
fi
check "the file has the source's sha256 and belongs to bitsuser" bash -c "
  $(declare -f ns); ns_pid=$ns_pid
  [ \"\$(ns sha256sum < $R/home/bitsuser/dl/now.bin)\" = '$sum' ] && [ \"\$(ns stat -c %U /home/bitsuser/dl/now.bin)\" = bitsuser ]"
# A job left in the queue (suspended, one file) for the upgrade.
job=$(as_user bitsctl create "kept across the upgrade" 2>&1)
as_user bitsctl add-file "$job" "$url" /home/bitsuser/dl/later.bin >/dev/null 2>&1
check "bitsuser: a queued job $job with one file" bash -c "
  $(declare -f ns as_user); ns_pid=$ns_pid; as_user bitsctl files '$job' | grep -q later.bin"

echo "-- upgrade to $v"
old_pid=$(owner_pid)
t0=$SECONDS
if apt_get install "./debs/bitsd_${v}_amd64.deb" "./debs/bitsctl_${v}_amd64.deb" >"$work/apt-upgrade.log" 2>&1; then
  pass "apt-get install ./debs/bitsd_${v}_amd64.deb ./debs/bitsctl_${v}_amd64.deb: upgrade from $prev ($((SECONDS - t0)) s)"
else
  cat "$work/apt-upgrade.log"; die "apt-get install (upgrade)"
fi
grep -E '^(Preparing|Unpacking|Setting up) bits' "$work/apt-upgrade.log" | sed 's/^/   /'
new_pid=$(owner_pid)
check "the old daemon (pid $old_pid) was stopped and the new one (pid ${new_pid:-none}) started by postinst" \
  bash -c "$(declare -f ns); ns_pid=$ns_pid
    ! ns kill -0 $old_pid 2>/dev/null && [ -n '$new_pid' ] && [ \"\$(ns readlink /proc/$new_pid/exe)\" = /usr/sbin/bitsd ]"
check "the queued job is still there after the upgrade" bash -c "
  $(declare -f ns as_user); ns_pid=$ns_pid; as_user bitsctl list | grep -q 'kept across the upgrade'"
check "the queued job resumes and completes" bash -c "
  $(declare -f ns as_user); ns_pid=$ns_pid
  as_user bitsctl resume '$job' && as_user timeout 120 bitsctl wait '$job' >/dev/null && as_user bitsctl complete '$job' &&
  [ \"\$(ns sha256sum < $R/home/bitsuser/dl/later.bin)\" = '$sum' ]"
check "dpkg: bitsd $v installed" test "$(ns dpkg-query -W -f='${Version}' bitsd)" = "$v"

echo "-- purge"
pid=$(owner_pid)
echo "# changed" >> "$R/etc/bits/bitsd.conf"
t0=$SECONDS
if apt_get purge bitsd bitsctl >"$work/apt-purge.log" 2>&1; then
  pass "apt-get purge bitsd bitsctl ($((SECONDS - t0)) s)"
else
  cat "$work/apt-purge.log"; fail "apt-get purge"
fi
check "prerm stopped the daemon (pid $pid); no bitsd runs" bash -c "
  $(declare -f ns); ns_pid=$ns_pid; ! ns kill -0 $pid 2>/dev/null && ! ns pidof bitsd >/dev/null"
out=$(bus --dest=org.example.Bits /org/example/Bits org.freedesktop.DBus.Peer.Ping 2>&1)
check "the bus no longer knows the service ($out)" bash -c '[[ $1 == *"not provided by any .service files"* ]]' _ "$out"
check "/var/lib/bits and the changed /etc/bits/bitsd.conf are gone" bash -c "
  [ ! -e '$R/var/lib/bits' ] && [ ! -e '$R/etc/bits' ]"
check "dpkg knows neither package any more" bash -c "
  $(declare -f ns); ns_pid=$ns_pid; ! ns dpkg-query -W bitsd bitsctl >/dev/null 2>&1"
ns rm -rf /home/bitsuser/dl
snapshot > "$work/after.snap"
if diff -u "$work/before.snap" "$work/after.snap" > "$work/snap.diff"; then
  pass "nothing left behind: the root's $(wc -l < "$work/before.snap") files and directories are as before the install"
else
  cat "$work/snap.diff"; fail "the root differs from before the install"
fi
kill -KILL "$ns_pid" 2>/dev/null; wait "$ns_unshare" 2>/dev/null; ns_pid= ns_unshare=

# ---------------------------------------------------------------------------------------------
echo "== 3. the same root booted with systemd as PID 1: activation, upgrade, purge through systemd"
skip=
if [ "$(cat /proc/1/comm)" = systemd ]; then
  skip="systemd is PID 1 of this machine (a nested one would need a delegated cgroup)"
fi
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  cgroup_mode=unified; cgroup_roots=(/sys/fs/cgroup)
elif [ "$(stat -fc %T /sys/fs/cgroup/systemd 2>/dev/null)" = cgroupfs ]; then
  cgroup_mode=hybrid; cgroup_roots=(/sys/fs/cgroup/systemd /sys/fs/cgroup/unified)
else
  skip=${skip:-"neither a cgroup2 /sys/fs/cgroup nor a name=systemd hierarchy at /sys/fs/cgroup/systemd"}
fi
[ -n "$skip" ] && { echo "SKIP: 3 ($skip)"; finish; }
rm -f "$R/usr/sbin/policy-rc.d"   # systemd runs now: the package scripts may start and stop units
for root in "${cgroup_roots[@]}"; do mkdir "$root/$cgroup_name"; done
(
  for root in "${cgroup_roots[@]}"; do echo "$BASHPID" > "$root/$cgroup_name/cgroup.procs"; done
  exec unshare --pid --fork --mount --uts --ipc --cgroup bash "$repo/scripts/systemd-root-init.sh" "$R" "$cgroup_mode" bitsd-deb-test
) >"$work/ns-systemd.log" 2>&1 &
ns_unshare=$!
wait_for 10 bash -c "pgrep -P $ns_unshare >/dev/null" && ns_pid=$(pgrep -P "$ns_unshare")
ns() { nsenter -t "$ns_pid" -m -p -u -i -C -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
booted() { case $(ns systemctl is-system-running 2>/dev/null) in running|degraded) return 0;; *) return 1;; esac; }
if [ -z "$ns_pid" ] || ! wait_for 60 booted; then
  cat "$work/ns-systemd.log"; die "systemd did not come up as PID 1 of the namespaces"
fi
pass "systemd is PID 1 of the root's namespaces (host pid $ns_pid; $(ns systemctl is-system-running))"
check "systemctl start dbus.service" ns systemctl start dbus.service
wait_for 10 bus --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId >/dev/null 2>&1 ||
  die "the system bus under systemd does not answer"
unit() { ns systemctl show -p "$1" --value bitsd.service; }
t0=$SECONDS
if apt_get install "./debs/bitsd_${prev}_amd64.deb" "./debs/bitsctl_${prev}_amd64.deb" >"$work/apt-prev3.log" 2>&1; then
  pass "apt-get install of $prev ($((SECONDS - t0)) s)"
else
  cat "$work/apt-prev3.log"; die "apt-get install of the previous packages under systemd"
fi
state3="$(unit LoadState) $(unit UnitFileState) $(unit ActiveState)"
check "bitsd.service is loaded (postinst: daemon-reload), neither enabled nor started: $state3" \
  test "$state3" = "loaded disabled inactive"
ns install -d -o bitsuser -g bitsuser /home/bitsuser/dl
t0=$SECONDS
if as_user bitsctl transfer "$url" /home/bitsuser/dl/now.bin >"$work/transfer3.log" 2>&1; then
  pass "bitsuser: bitsctl transfer; its first call started bitsd.service ($((SECONDS - t0)) s)"
else
  cat "$work/transfer3.log"; fail "bitsuser: bitsctl transfer under systemd"
fi
check "the copy has the source's sha256" test "$(sha256sum < "$R/home/bitsuser/dl/now.bin")" = "$sum"
old_pid=$(unit MainPID)
check "bitsd.service is active and its main process (pid $old_pid) owns org.example.Bits" \
  test "$(unit ActiveState)" = active -a "$(owner_pid)" = "$old_pid"
job=$(as_user bitsctl create "kept across the upgrade" 2>&1)
as_user bitsctl add-file "$job" "$url" /home/bitsuser/dl/later.bin >/dev/null 2>&1
t0=$SECONDS
if apt_get install "./debs/bitsd_${v}_amd64.deb" "./debs/bitsctl_${v}_amd64.deb" >"$work/apt-upgrade3.log" 2>&1; then
  pass "apt-get install of $v: upgrade ($((SECONDS - t0)) s)"
else
  cat "$work/apt-upgrade3.log"; die "apt-get install (upgrade) under systemd"
fi
new_pid=$(unit MainPID)
check "the upgrade restarted bitsd.service (main pid $old_pid, now ${new_pid:-none})" \
  test -n "$new_pid" -a "$new_pid" != 0 -a "$new_pid" != "$old_pid" -a "$(unit ActiveState)" = active
check "the queued job is still there, resumes and completes" bash -c "
  $(declare -f ns as_user); ns_pid=$ns_pid
  as_user bitsctl list | grep -q 'kept across the upgrade' && as_user bitsctl resume '$job' &&
  as_user timeout 120 bitsctl wait '$job' >/dev/null && as_user bitsctl complete '$job'"
check "the second copy has the source's sha256" test "$(sha256sum < "$R/home/bitsuser/dl/later.bin" 2>/dev/null)" = "$sum"
t0=$SECONDS
if apt_get purge bitsd bitsctl >"$work/apt-purge3.log" 2>&1; then
  pass "apt-get purge bitsd bitsctl ($((SECONDS - t0)) s)"
else
  cat "$work/apt-purge3.log"; fail "apt-get purge under systemd"
fi
check "prerm stopped bitsd.service, and systemd no longer knows it" \
  test "$(ns pidof bitsd)" = "" -a "$(unit LoadState)" = not-found
check "/var/lib/bits and /etc/bits are gone" test ! -e "$R/var/lib/bits" -a ! -e "$R/etc/bits"
finish
