#!/usr/bin/env bash
# Runs the whole test suite: the fault server's tests, then every Swift test (unit tests of
# the pure logic and of the transfer engine, and the integration tests against a real
# dbus-daemon with our policy, real polkitd, real users and real loopback HTTP servers), then
# the installation test, then the package test. Fails if any of them fails.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== fault server tests (python unittest)"
/usr/bin/python3 -m unittest discover -s Tests/Support -p 'test_*.py' || exit 1
echo "== swift test"
swift test --disable-swift-testing
swift_status=$?
# make install / uninstall / purge into a staging directory and into this system (activation on
# the real system bus, and through systemd in namespaces of its own); after the Swift tests, never
# concurrently with them (both use /usr/share/polkit-1/actions/org.example.bits.policy).
echo "== installation test (scripts/test-install.sh)"
scripts/test-install.sh
install_status=$?
# make deb (reusing the installation test's release build in .build-install), lintian, and the
# packages on a clean Debian 12 root made with debootstrap from the Debian mirror (about 5 min).
echo "== package test (scripts/test-deb.sh)"
scripts/test-deb.sh
deb_status=$?
[ "$swift_status" = 0 ] && [ "$install_status" = 0 ] && [ "$deb_status" = 0 ]
