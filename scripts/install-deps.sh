#!/usr/bin/env bash
# Installs the Debian packages bitsd needs to build, run and test. Idempotent.
set -euo pipefail
packages=(libglib2.0-dev libcurl4-openssl-dev libssl-dev pkg-config dbus-daemon dbus-bin polkitd
          python3 python3-dbus python3-gi nginx-light curl libxml2-utils passwd util-linux
          libsqlite3-dev sqlite3 acl e2fsprogs
          # scripts/test-install.sh: the system bus with its setuid activation helper, busctl,
          # systemd-analyze and systemd itself, man, pgrep
          dbus dbus-system-bus-common systemd man-db procps
          # make deb and scripts/test-deb.sh: Debian's packaging tools, lintian, a clean root
          dpkg-dev debhelper lintian debootstrap debian-archive-keyring file)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# nginx-light's package starts a server on :80; the tests start their own instances.
if command -v systemctl >/dev/null && systemctl is-active -q nginx 2>/dev/null; then systemctl stop nginx || true; fi
pkill -f 'nginx: master process /usr/sbin/nginx -g' 2>/dev/null || true
