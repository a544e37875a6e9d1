#!/bin/bash
# PID 1 of new PID, mount, UTS, IPC and cgroup namespaces (started by `unshare`), for the tests
# that boot systemd on a throw-away root (scripts/test-install.sh, scripts/test-deb.sh).
#
# Usage: systemd-root-init.sh ROOT CGROUP_MODE NAME [DIR...]
#
# Mounts in ROOT what systemd needs: /proc (with /proc/sys read-only), a read-only /sys with the
# cgroup hierarchy of CGROUP_MODE (unified: cgroup2; hybrid: name=systemd + cgroup2), a private
# /dev, fresh /run and /tmp; bind-mounts each DIR that lies under /tmp or /run (the fresh
# tmpfs would hide it) at its own path; masks the units that would touch the kernel or hardware
# (sysctl, binfmt and modules are global; /proc/sys and /sys are read-only anyway); pivots into
# ROOT and execs systemd into an empty target NAME.target with container=NAME.
set -euo pipefail
R=$1 cgroup_mode=$2 name=$3
shift 3
mount --make-rprivate /
mount --bind "$R" "$R"   # pivot_root wants a mount point
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
if [ "$cgroup_mode" = unified ]; then
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
else
  mount -t tmpfs -o mode=0755,nosuid,nodev,noexec tmpfs "$R/sys/fs/cgroup"
  mkdir "$R/sys/fs/cgroup/systemd" "$R/sys/fs/cgroup/unified"
  mount -t cgroup -o none,name=systemd,nosuid,nodev,noexec cgroup "$R/sys/fs/cgroup/systemd"
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup/unified"
  mount -o remount,ro,bind "$R/sys/fs/cgroup"
fi
mount -t tmpfs -o mode=0755,nosuid tmpfs "$R/dev"
for n in null zero full random urandom tty; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
touch "$R/dev/console"; mount --bind /dev/null "$R/dev/console"
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
for dir in "$@"; do
  case "$dir" in /tmp/*|/run/*) mkdir -p "$R$dir"; mount --bind "$dir" "$R$dir" ;; esac
done
mkdir -p "$R/run/systemd/system"
printf '[Unit]\nDescription=%s\n' "$name" > "$R/run/systemd/system/$name.target"
for u in systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
         systemd-sysctl.service systemd-modules-load.service kmod-static-nodes.service \
         systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service \
         systemd-udev-settle.service systemd-random-seed.service systemd-hwdb-update.service \
         systemd-firstboot.service systemd-machine-id-commit.service systemd-pstore.service \
         systemd-tmpfiles-setup-dev.service sys-kernel-debug.mount sys-kernel-tracing.mount \
         sys-fs-fuse-connections.mount sys-kernel-config.mount dev-hugepages.mount \
         systemd-sysusers.service systemd-timesyncd.service; do
  ln -sf /dev/null "$R/run/systemd/system/$u"
done
hostname "$name"
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
exec env -i container="$name" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /lib/systemd/systemd --system --unit="$name.target"
