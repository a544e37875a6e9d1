# bitsd — build, test, demo, benchmark and install entry points. Run as root (the service is a
# root system service and its tests create users and start a private system bus and polkitd).
SWIFT ?= swift

## Installation layout (`make install PREFIX=/usr DESTDIR=/tmp/stage`). The D-Bus policy and the
## polkit actions have fixed defaults: dbus-daemon reads bus policies only from
## /usr/share/dbus-1/system.d and /etc/dbus-1/system.d, polkitd actions only from
## /usr/share/polkit-1/actions, whatever PREFIX is.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
DOCDIR ?= $(DATADIR)/doc/bitsd
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
STATEDIR ?= /var/lib/bits
DBUS_POLICYDIR ?= /usr/share/dbus-1/system.d
DBUS_SERVICEDIR ?= $(DATADIR)/dbus-1/system-services
DBUS_INTERFACEDIR ?= $(DATADIR)/dbus-1/interfaces
POLKIT_ACTIONDIR ?= /usr/share/polkit-1/actions
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
## The per-user instance (`bitsd --session`): session-bus activation file and systemd user unit.
DBUS_SESSION_SERVICEDIR ?= $(DATADIR)/dbus-1/services
SYSTEMD_USERUNITDIR ?= $(PREFIX)/lib/systemd/user
BASH_COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
ZSH_COMPLETIONDIR ?= $(DATADIR)/zsh/site-functions
FISH_COMPLETIONDIR ?= $(DATADIR)/fish/vendor_completions.d

## Release binaries for installation. They link the Swift runtime statically, so the installed
## service does not depend on the toolchain that built it (`SWIFT_BUILD_FLAGS=` links it
## dynamically; the toolchain's lib/swift/linux must then stay where it is).
BUILD_DIR ?= .build
SWIFT_BUILD_FLAGS ?= --static-swift-stdlib
RELEASE_DIR = $(BUILD_DIR)/release
MANUAL_DIR = $(BUILD_DIR)/plugins/GenerateManual/outputs

# The interface XML, installed for introspection tools (gdbus-codegen, D-Feet); bitsd has it
# compiled in and does not read these copies.
INTERFACES = $(notdir $(wildcard dbus/org.example.Bits.*.xml))
# Directories install creates are listed here, so uninstall removes exactly those (if empty).
CREATED_DIRS_FILE = $(DOCDIR)/installed-directories
# Rewrites the default (PREFIX=/usr/local) paths in dbus/bitsd.service and
# dbus/org.example.Bits.service.
SED_PATHS = sed -e 's|/usr/local/sbin/bitsd|$(SBINDIR)/bitsd|g' \
                -e 's|/usr/local/share/doc/bitsd|$(DOCDIR)|g'
# Whether the package has a bitsctl product (added with the client).
HAS_BITSCTL = $(SWIFT) package --scratch-path $(BUILD_DIR) dump-package 2>/dev/null | \
    python3 -c 'import json,sys; sys.exit(0 if any(p["name"] == "bitsctl" for p in json.load(sys.stdin)["products"]) else 1)'
# Live system only (DESTDIR empty): a running system bus rereads its policies, systemd (if it is
# PID 1) its units.
RELOAD_SERVICES = if [ -z "$(DESTDIR)" ]; then \
      if [ -S /run/dbus/system_bus_socket ] && busctl --system call org.freedesktop.DBus /org/freedesktop/DBus \
           org.freedesktop.DBus ReloadConfig >/dev/null 2>&1; then echo "system bus: configuration reloaded"; fi; \
      if [ "$$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then systemctl daemon-reload && echo "systemd: units reloaded"; fi; \
    fi

.PHONY: all build release deps test unit-test fuzz demo bench clean install-build man install uninstall purge deb test-deb

all: build

deps:
	scripts/install-deps.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

## The whole test suite: Swift unit + integration tests (real bus, polkitd, users, HTTP
## servers), the fault server's own tests and the installation test.
test: deps
	scripts/test.sh

## The unit tests alone (pure logic, the queue manager against fakes, store, transfer engine
## against loopback servers, client parsing): no root, no bus, no users; first the C interop
## rule (scripts/check-interop.sh, docs/architecture.md "C interop"). `make test` is the whole suite.
.PHONY: check
check:
	scripts/check-interop.sh
	$(SWIFT) test --disable-swift-testing --skip BitsIntegrationTests

## The D-Bus fuzzer (Tests/Support/dbusfuzz.py), run for BITS_FUZZ_SECONDS seconds (default 600)
## as an unprivileged test user against a real bitsd, through the integration test FuzzTests
## (which `make test` / CI runs for 60 s). Root, like the other integration tests; `make deps`
## first on a fresh machine. BITS_FUZZ_SEED=N repeats a run's choices.
BITS_FUZZ_SECONDS ?= 600
fuzz:
	$(SWIFT) build --scratch-path $(BUILD_DIR) --build-tests
	BITS_FUZZ_SECONDS=$(BITS_FUZZ_SECONDS) $(SWIFT) test --scratch-path $(BUILD_DIR) --skip-build \
	  --disable-swift-testing --filter FuzzTests

## Quick start: a real download through the service, with progress.
demo:
	scripts/quickstart.sh

## Benchmarks (figures printed side by side with their baselines).
bench: deps release
	scripts/bench/bench.sh

## Release binaries to install: bitsd, and bitsctl once the package has it.
install-build:
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR) $(SWIFT_BUILD_FLAGS) --product bitsd
	if $(HAS_BITSCTL); then \
	  $(SWIFT) build -c release --scratch-path $(BUILD_DIR) $(SWIFT_BUILD_FLAGS) --product bitsctl; \
	else rm -f $(RELEASE_DIR)/bitsctl; fi

## Manual pages of every ArgumentParser executable (bitsd, bitsctl) with swift-argument-parser's
## generate-manual plugin, into $(MANUAL_DIR)/<product>/<product>.1. The plugin builds the
## products itself, here in debug configuration so that it does not relink the release binaries
## of install-build with other flags.
man:
	$(SWIFT) package --scratch-path $(BUILD_DIR) plugin generate-manual --configuration debug \
	  $(if $(shell git log -1 --format=%cs 2>/dev/null),--date $(shell git log -1 --format=%cs))

## Installs into $(DESTDIR) (see "Installing" in README.md). Never overwrites an existing
## $(SYSCONFDIR)/bits/bitsd.conf.
install: install-build man
	@set -e; d="$(DESTDIR)"; \
	ctl=; [ -x $(RELEASE_DIR)/bitsctl ] && ctl=1; \
	dirs="$(SBINDIR) $(DBUS_POLICYDIR) $(DBUS_SERVICEDIR) $(DBUS_INTERFACEDIR) $(POLKIT_ACTIONDIR) \
	      $(SYSTEMD_UNITDIR) $(DBUS_SESSION_SERVICEDIR) $(SYSTEMD_USERUNITDIR) $(SYSCONFDIR)/bits $(DOCDIR) $(MANDIR)/man8"; \
	[ -n "$$ctl" ] && dirs="$$dirs $(BINDIR) $(BASH_COMPLETIONDIR) $(ZSH_COMPLETIONDIR) $(FISH_COMPLETIONDIR) $(MANDIR)/man1"; \
	created=; \
	for dir in $$dirs; do \
	  p=$$dir; while [ "$$p" != / ] && [ ! -d "$$d$$p" ]; do created="$$created $$p"; p=$$(dirname "$$p"); done; \
	done; \
	for dir in $$dirs; do install -d -m 0755 "$$d$$dir"; done; \
	{ cat "$$d$(CREATED_DIRS_FILE)" 2>/dev/null || true; for p in $$created; do echo "$$p"; done; } \
	  | sort -u > "$$d$(CREATED_DIRS_FILE).new"; \
	mv "$$d$(CREATED_DIRS_FILE).new" "$$d$(CREATED_DIRS_FILE)"; chmod 0644 "$$d$(CREATED_DIRS_FILE)"; \
	echo "installing bitsd into $${d:-/} (PREFIX=$(PREFIX))"; \
	install -m 0755 $(RELEASE_DIR)/bitsd "$$d$(SBINDIR)/bitsd"; \
	install -m 0644 dbus/org.example.Bits.conf "$$d$(DBUS_POLICYDIR)/org.example.Bits.conf"; \
	$(SED_PATHS) dbus/org.example.Bits.service > "$$d$(DBUS_SERVICEDIR)/org.example.Bits.service"; \
	chmod 0644 "$$d$(DBUS_SERVICEDIR)/org.example.Bits.service"; \
	for f in $(INTERFACES); do install -m 0644 dbus/$$f "$$d$(DBUS_INTERFACEDIR)/$$f"; done; \
	install -m 0644 polkit/org.example.bits.policy "$$d$(POLKIT_ACTIONDIR)/org.example.bits.policy"; \
	$(SED_PATHS) dbus/bitsd.service > "$$d$(SYSTEMD_UNITDIR)/bitsd.service"; \
	chmod 0644 "$$d$(SYSTEMD_UNITDIR)/bitsd.service"; \
	$(SED_PATHS) dbus/user/org.example.Bits.service > "$$d$(DBUS_SESSION_SERVICEDIR)/org.example.Bits.service"; \
	$(SED_PATHS) dbus/user/bitsd.service > "$$d$(SYSTEMD_USERUNITDIR)/bitsd.service"; \
	chmod 0644 "$$d$(DBUS_SESSION_SERVICEDIR)/org.example.Bits.service" "$$d$(SYSTEMD_USERUNITDIR)/bitsd.service"; \
	if [ -e "$$d$(SYSCONFDIR)/bits/bitsd.conf" ]; then \
	  echo "keeping the existing $(SYSCONFDIR)/bits/bitsd.conf (the default is $(DOCDIR)/bitsd.conf)"; \
	else install -m 0644 etc/bitsd.conf "$$d$(SYSCONFDIR)/bits/bitsd.conf"; fi; \
	install -m 0644 README.md etc/bitsd.conf polkit/50-org.example.bits.rules "$$d$(DOCDIR)/"; \
	sed -e '/^\.Dt /s/ 1$$/ 8/' $(MANUAL_DIR)/bitsd/bitsd.1 > "$$d$(MANDIR)/man8/bitsd.8"; \
	chmod 0644 "$$d$(MANDIR)/man8/bitsd.8"; \
	if [ -n "$$ctl" ]; then \
	  install -m 0755 $(RELEASE_DIR)/bitsctl "$$d$(BINDIR)/bitsctl"; \
	  $(RELEASE_DIR)/bitsctl --generate-completion-script bash > "$$d$(BASH_COMPLETIONDIR)/bitsctl"; \
	  $(RELEASE_DIR)/bitsctl --generate-completion-script zsh > "$$d$(ZSH_COMPLETIONDIR)/_bitsctl"; \
	  $(RELEASE_DIR)/bitsctl --generate-completion-script fish > "$$d$(FISH_COMPLETIONDIR)/bitsctl.fish"; \
	  chmod 0644 "$$d$(BASH_COMPLETIONDIR)/bitsctl" "$$d$(ZSH_COMPLETIONDIR)/_bitsctl" "$$d$(FISH_COMPLETIONDIR)/bitsctl.fish"; \
	  install -m 0644 $(MANUAL_DIR)/bitsctl/bitsctl.1 "$$d$(MANDIR)/man1/bitsctl.1"; \
	fi; \
	$(RELOAD_SERVICES)

## Removes what install put: every installed file, the configuration only while it equals the
## default, and the directories install created (if empty). On the live system it first stops
## the installed daemon (systemctl disable --now under systemd, else SIGTERM to a running
## $(SBINDIR)/bitsd). Jobs stay in $(STATEDIR); `make purge` removes them too.
uninstall:
	@set -e; d="$(DESTDIR)"; \
	if [ -z "$$d" ]; then \
	  if [ "$$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -e "$(SYSTEMD_UNITDIR)/bitsd.service" ]; then \
	    systemctl disable --now bitsd.service || true; \
	  fi; \
	  for pid in $$(pgrep -x bitsd || true); do \
	    if [ "$$(readlink /proc/$$pid/exe 2>/dev/null)" = "$(SBINDIR)/bitsd" ]; then \
	      echo "stopping bitsd (pid $$pid)"; kill -TERM $$pid 2>/dev/null || true; \
	      for i in $$(seq 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
	    fi; \
	  done; \
	fi; \
	rm -f "$$d$(SBINDIR)/bitsd" "$$d$(BINDIR)/bitsctl" \
	      "$$d$(DBUS_POLICYDIR)/org.example.Bits.conf" "$$d$(DBUS_SERVICEDIR)/org.example.Bits.service" \
	      "$$d$(POLKIT_ACTIONDIR)/org.example.bits.policy" "$$d$(SYSTEMD_UNITDIR)/bitsd.service" \
	      "$$d$(DBUS_SESSION_SERVICEDIR)/org.example.Bits.service" "$$d$(SYSTEMD_USERUNITDIR)/bitsd.service" \
	      "$$d$(BASH_COMPLETIONDIR)/bitsctl" "$$d$(ZSH_COMPLETIONDIR)/_bitsctl" "$$d$(FISH_COMPLETIONDIR)/bitsctl.fish" \
	      "$$d$(MANDIR)/man1/bitsctl.1" "$$d$(MANDIR)/man8/bitsd.8"; \
	for f in $(INTERFACES); do rm -f "$$d$(DBUS_INTERFACEDIR)/$$f"; done; \
	conf="$$d$(SYSCONFDIR)/bits/bitsd.conf"; \
	if [ -e "$$conf" ]; then \
	  if cmp -s "$$conf" etc/bitsd.conf || cmp -s "$$conf" "$$d$(DOCDIR)/bitsd.conf"; then rm -f "$$conf"; \
	  else echo "keeping $(SYSCONFDIR)/bits/bitsd.conf (changed from the default; make purge removes it)"; fi; \
	fi; \
	created=$$(cat "$$d$(CREATED_DIRS_FILE)" 2>/dev/null || true); \
	rm -f "$$d$(DOCDIR)/README.md" "$$d$(DOCDIR)/bitsd.conf" "$$d$(DOCDIR)/50-org.example.bits.rules" "$$d$(CREATED_DIRS_FILE)"; \
	for dir in $$(printf '%s\n' $$created "$(DOCDIR)" "$(SYSCONFDIR)/bits" | LC_ALL=C sort -ru); do \
	  if [ -d "$$d$$dir" ]; then rmdir --ignore-fail-on-non-empty "$$d$$dir"; fi; \
	done; \
	echo "removed bitsd from $${d:-/}"; \
	$(RELOAD_SERVICES)

## uninstall, and the job database ($(STATEDIR)) and $(SYSCONFDIR)/bits with whatever is in it.
purge: uninstall
	rm -rf "$(DESTDIR)$(STATEDIR)" "$(DESTDIR)$(SYSCONFDIR)/bits"

## Debian packages: bitsd_<version>_amd64.deb (the service), bitsctl_<version>_amd64.deb (the
## client) and their -dbgsym packages (the split debug symbols), built by dpkg-buildpackage from
## debian/ (`make install DESTDIR=debian/tmp PREFIX=/usr`, dh_strip, dh_shlibdeps), into
## DEB_DIR (default: the top of the tree), then checked by lintian if it is installed.
## VERSION is debian/changelog's; it must equal bitsd's own (`bitsd --version`).
DEB_DIR ?= .
deb:
	@v=$$(dpkg-parsechangelog -S Version); \
	  src=$$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/bitsd/main.swift); \
	  if [ "$$v" != "$$src" ]; then echo "debian/changelog has version $$v, Sources/bitsd/main.swift $$src: add a changelog entry (dch -v $$src)"; exit 1; fi
	mkdir -p $(DEB_DIR)
	env -u MAKEFLAGS -u MAKELEVEL SWIFT=$(SWIFT) BUILD_DIR=$(abspath $(BUILD_DIR)) DEB_OUTDIR=$(abspath $(DEB_DIR)) \
	  dpkg-buildpackage -b -us -uc \
	  --buildinfo-option=-u$(abspath $(DEB_DIR)) --changes-option=-u$(abspath $(DEB_DIR)) \
	  --buildinfo-file=$(abspath $(DEB_DIR))/bitsd_$$(dpkg-parsechangelog -S Version)_amd64.buildinfo \
	  --changes-file=$(abspath $(DEB_DIR))/bitsd_$$(dpkg-parsechangelog -S Version)_amd64.changes
	@if command -v lintian >/dev/null; then \
	  echo "lintian:"; lintian --info --display-info $(abspath $(DEB_DIR))/bitsd_$$(dpkg-parsechangelog -S Version)_amd64.changes || true; \
	fi
	@ls -l $(DEB_DIR)/*_$$(dpkg-parsechangelog -S Version)_amd64.*deb

## The package on a clean Debian 12 root (debootstrap): apt-get install, D-Bus activation, a
## download as an ordinary user with bitsctl, an upgrade that keeps the queue, apt-get purge.
## Root; downloads Debian packages from the mirror of /etc/apt/sources.list*.
test-deb:
	scripts/test-deb.sh

clean:
	rm -rf .build
