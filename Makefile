# sdocker: build, test, benchmark. Most targets need root (namespaces, cgroups, mounts).
GO      ?= go
BIN     := bin
export CGO_ENABLED := 0

.PHONY: all build test lint unit-test vm-test bench install clean

all: build

# sdocker-init starts at an entry point of its own, which joins a user
# namespace before the Go runtime starts threads (internal/launch/userns.go).
INIT_LDFLAGS := -E=github.com/sdocker/sdocker/internal/launch.usernsEntry

# The engine, its detached containers' monitor, the runtime, the init, --init's init, and the
# two workloads the default rootfs ships (all found beside sdocker).
build:
	$(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/ $(filter-out ./cmd/sdocker-init,$(addprefix ./,$(wildcard cmd/*)))
	$(GO) build -trimpath -ldflags="-s -w $(INIT_LDFLAGS)" -o $(BIN)/ ./cmd/sdocker-init

# The whole suite: vet, unit and integration tests on this kernel (cgroup v1 or v2),
# then the cgroup v2 subset inside a real cgroup-v2 kernel under qemu.
# Packages run one at a time: the integration suites share the machine's
# cgroups and CPUs, and the cpu-test check measures a 20 % quota.
test: build lint
	$(GO) vet ./...
	$(GO) test -count=1 -p 1 ./...
	scripts/cgroup2-vm-test.sh ./internal/cgroups ./tests/integration ./tests/oci ./tests/rootless
	scripts/cgroup2-vm-test.sh --sdocker ./tests/engine -- -test.run '$(ENGINE_V2_TESTS)' -test.v

# The engine tests that also run on cgroup v2: how a container ended (exit
# code, signal, OOM kill, its monitor or command killed, the restart policy).
ENGINE_V2_TESTS = TestExitCause|TestInspectOOM|TestEventsOOM|TestRestartUnlessStopped

# golangci-lint with .golangci.yml, pinned in tools/go.mod (apart from the
# project's module) and built from the module proxy on first use: about 3.5
# minutes on a fresh machine, then cached in GOCACHE. Two runs on one machine
# (two checkouts) take turns instead of the second failing.
lint:
	$(GO) tool -modfile=tools/go.mod golangci-lint run --allow-serial-runners ./...

unit-test:
	$(GO) test -count=1 -p 1 ./...

vm-test:
	scripts/cgroup2-vm-test.sh ./internal/cgroups ./tests/integration ./tests/oci ./tests/rootless
	scripts/cgroup2-vm-test.sh --sdocker ./tests/engine -- -test.run '$(ENGINE_V2_TESTS)' -test.v

bench: build
	SDOCKER_BIN=$(CURDIR)/$(BIN)/sdocker bench/run.sh

install: build
	install -m 0755 $(BIN)/sdocker $(BIN)/sdocker-registry $(BIN)/sdocker-monitor $(BIN)/sdocker-runc $(BIN)/sdocker-init $(BIN)/sdocker-tini $(BIN)/cpu-test $(BIN)/memory-test /usr/local/bin/

clean:
	rm -rf $(BIN)
