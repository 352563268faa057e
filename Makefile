# trawl: poll Patchwork, fingerprint, trigger CI only when a fingerprint changed.

# golangci-lint runs staticcheck (v0.8.2 in this release), depguard,
# errorlint and contextcheck as .golangci.yml says. It is installed with
# `go install` from the module proxy at this exact version, outside the
# repository (its go.mod stays ours) and under a path naming the version, so
# every clone and worktree of this machine shares one build and a version
# bump never runs a stale binary.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(shell go env GOPATH)/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 10s

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/trawl
	go build -ldflags '$(LDFLAGS)' -o bin/trawl ./cmd/trawl

# A release binary is static (no cgo), carries no build paths (-trimpath)
# and no build id, and records the VCS commit (-buildvcs=true, whatever
# GOFLAGS says), so two builds of one commit are byte-identical.
RELEASE_FLAGS := -trimpath -buildvcs=true -ldflags '-s -w -buildid= $(LDFLAGS)'

.PHONY: release
release: ## static, reproducible bin/trawl: built twice (two build caches) and compared byte for byte
	CGO_ENABLED=0 go build $(RELEASE_FLAGS) -o bin/trawl ./cmd/trawl
	@cache=$$(mktemp -d); trap 'chmod -R u+w '"$$cache"'; rm -rf '"$$cache" EXIT; \
	CGO_ENABLED=0 GOCACHE=$$cache go build $(RELEASE_FLAGS) -o bin/trawl.check ./cmd/trawl && \
	cmp bin/trawl bin/trawl.check && rm bin/trawl.check && echo "bin/trawl: reproducible"
	@file bin/trawl 2>/dev/null | grep -q 'statically linked' || { echo "bin/trawl is not static"; exit 1; }
	@bin/trawl version | grep -q ' commit ' || { echo "bin/trawl does not record its commit"; exit 1; }
	bin/trawl version

.PHONY: demo
demo: ## run the main job on the embedded default: recorded Patchwork -> in-process KernelCI
	go run -ldflags '$(LDFLAGS)' ./cmd/trawl demo

.PHONY: test
test: lint ## the whole suite: gofmt, vet, golangci-lint (with staticcheck), then every test with -race
	go test -race -count=1 -timeout 20m ./...
	# The fault suite in full (1,000 ticks); under -race above it runs 120.
	go test -count=1 -run '^TestFaultsLoseNothing$$' ./pkg/cycle

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet, then golangci-lint: staticcheck, depguard (the layering), errorlint, contextcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN=$(dir $(GOLANGCI_LINT)) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: torture
torture: ## the torture tests in full: the crash suite kills and restarts trawl 250 times per target type; the fault suite runs 20,000 ticks
	TRAWL_TORTURE=1 go test -run 'Torture|^TestFaultsLoseNothing$$' -count=1 -v -timeout 60m ./...

.PHONY: bench
bench: ## benchmarks: ticks against the simulator at 1k and 10k units, a 1,000-tick idle soak, micro-benchmarks
	go test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m ./pkg/sim
	go test -run '^$$' -bench . -benchmem $$(go list ./... | grep -v /pkg/sim$$)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$(go list ./...); do \
		for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The fingerprint vectors go first and alone: their -update refuses an
# encoding change without a bump of fingerprint.Version, and the other
# golden files, which hold fingerprints, must not absorb such a change.
.PHONY: update
update: ## regenerate golden files (in the packages that have an -update flag)
	go test ./fingerprint -update
	go test $$(grep -rl --include='*_test.go' 'flag.Bool("update"' . | xargs -n1 dirname | sort -u | grep -v '^\./fingerprint$$') -update
