# Palisade — build, test and benchmark targets.
# "make test" is the one command that takes a fresh machine to a passing test run.

GO       ?= go
PKGS     ?= ./...
TESTFLAGS ?= -count=1 -timeout 15m

.PHONY: all build test test-deps vet fmt bench fuzz clean

all: build

build:
	$(GO) build -o bin/palisade ./cmd/palisade

# test-deps installs what the test suite drives for real (Debian and npm
# packages); it is idempotent and quick when everything is already there.
test-deps:
	./.ci/deps

test: test-deps
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
