# bitsd — build, test, demo and benchmark entry points. Run as root (the service is a root
# system service and its tests create users and start a private system bus and polkitd).
SWIFT ?= swift

.PHONY: all build release deps test unit-test demo bench clean

all: build

deps:
	scripts/install-deps.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

## The whole test suite: Swift unit + integration tests (real bus, polkitd, users, HTTP
## servers) and the fault server's own tests.
test: deps
	scripts/test.sh

## Quick start: a real download through the service, with progress.
demo:
	scripts/quickstart.sh

## Benchmarks (figures printed side by side with their baselines).
bench: deps release
	scripts/bench.sh

clean:
	rm -rf .build
