#!/usr/bin/env bash
# Runs the whole test suite: the fault server's tests, then every Swift test (unit tests of
# the pure logic and of the transfer engine, and the integration tests against a real
# dbus-daemon with our policy, real polkitd, real users and real loopback HTTP servers).
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== fault server tests (python unittest)"
/usr/bin/python3 -m unittest discover -s Tests/Support -p 'test_*.py' || exit 1
echo "== swift test"
swift test --disable-swift-testing
