# ArqonBus — every task a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       ?= bin
# Executions per fuzz target (Nx), not a duration: with a duration, Go 1.26's
# fuzz coordinator can fail a clean run with "context deadline exceeded" as
# the time runs out (golang/go#75804).
FUZZTIME  ?= 100000x
BENCHTIME ?= 1s
COUNT     ?= 1
COVER_MIN ?= 84
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/arqonbus/arqonbus/internal/app.version=$(VERSION) \
             -X github.com/arqonbus/arqonbus/internal/app.commit=$(COMMIT)
# Build tools (actionlint, gotestsum, gremlins) are pinned in tools/go.mod and
# built once into build/tools (`make tools` builds the two the gate needs;
# `make mutation` builds gremlins); they are rebuilt only when tools/go.mod
# or tools/go.sum change.
TOOLS     := build/tools
TOOL_BINS := $(TOOLS)/actionlint $(TOOLS)/gotestsum

# Test environment written by `make testenv` (the Redis image tag to use).
TESTENV   := build/testenv.sh
WITH_ENV  := set -a; if [ -f $(TESTENV) ]; then . ./$(TESTENV); fi; set +a;
# Every tier runs through scripts/gotest.sh NAME: go test's own output, a
# summary of skips and failures, and counts for the test-all summary.
GOTEST    := scripts/gotest.sh
# Where the tiers' counts and event streams go (read by scripts/test-all.sh).
TIERS     ?= build/tiers
export TIERS
RACE      := -race -count=$(COUNT)
UNIT_PKGS := ./cmd/... ./internal/... ./test/unit/...

# Fuzz targets: package path and target name.
FUZZ_TARGETS := \
	./internal/protocol:FuzzDecode \
	./internal/protocol:FuzzDecodeMatchesReference \
	./internal/auth:FuzzVerify \
	./internal/config:FuzzNormalizeProfile \
	./internal/config:FuzzLoad \
	./internal/store/redisstore:FuzzStreamKey

.PHONY: help build run lint fmt vet actionlint test test-unit test-integration test-e2e \
	test-regression test-adversarial test-all fuzz cover cover-check bench testenv image clean tools \
	test-unit-386 \
	first-hour mutation soak

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

build: ## build arqonbus, arqon and arqonbench into ./bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# `make run RUN_PORT=9200` when 9100 is taken.
run: RUN_HOST ?= 127.0.0.1
run: RUN_PORT ?= 9100
run: build ## serve on 127.0.0.1:9100 (dev profile, memory storage, no external services; RUN_HOST, RUN_PORT)
	ARQONBUS_ENVIRONMENT=dev ARQONBUS_SERVER_HOST=$(RUN_HOST) ARQONBUS_SERVER_PORT=$(RUN_PORT) \
	ARQONBUS_STORAGE_BACKEND=memory ./$(BIN)/arqonbus serve

first-hour: ## a fresh clone of HEAD: make build, make run, arqon publish and command status, SIGTERM exits 0
	scripts/first-hour.sh

image: ## static linux binary in a FROM-scratch image tagged arqonbus:latest
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux/arqonbus ./cmd/arqonbus
	docker build -f deploy/Dockerfile -t arqonbus:latest .

lint: fmt vet actionlint ## gofmt check, go vet (all build tags, 64 and 32 bits), a 32-bit build, actionlint

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration,e2e ./...
	GOARCH=386 $(GO) build ./...
	GOARCH=386 $(GO) vet -tags integration,e2e ./...

actionlint: tools
	$(TOOLS)/actionlint .github/workflows/*.yml

tools: $(TOOL_BINS) ## build the pinned tools the gate needs (actionlint, gotestsum) into build/tools

$(TOOL_BINS) &: tools/go.mod tools/go.sum
	@mkdir -p $(TOOLS)
	@echo "tools: building actionlint and gotestsum into $(TOOLS) (once per version change)"
	@start=$$(date +%s); cd tools && $(GO) build -o ../$(TOOLS)/ github.com/rhysd/actionlint/cmd/actionlint gotest.tools/gotestsum; \
	echo "tools: built in $$(( $$(date +%s) - start ))s"

testenv: ## prepare what the tests need (a Redis image or redis-server)
	@mkdir -p build
	@tag=$$(scripts/redis-image.sh | tail -n 1); \
	{ echo "# written by make testenv"; \
	  if [ -n "$$tag" ]; then echo "$$tag"; fi; \
	  if [ -z "$${TESTCONTAINERS_RYUK_DISABLED:-}" ]; then echo "TESTCONTAINERS_RYUK_DISABLED=true"; fi; \
	} > $(TESTENV); \
	echo "testenv: $$(grep -v '^#' $(TESTENV) | tr '\n' ' ')"

test: test-unit test-regression test-adversarial ## unit + regression + adversarial (no external services)

test-unit: tools ## unit tier: every package's own tests and test/unit, then again as 32-bit x86
	$(WITH_ENV) $(GOTEST) unit $(RACE) $(UNIT_PKGS)
	@$(MAKE) --no-print-directory test-unit-386

# The unit tests built for linux/386 (no -race: 386 lacks it), so an int that
# only overflows where it is 32 bits wide fails a test. Hosts whose kernel
# cannot execute 32-bit x86 programs compile the tests and skip the run,
# with one line saying so (scripts/host-can-exec.sh decides).
test-unit-386: tools
	@if why=$$(scripts/host-can-exec.sh 386); then \
		$(WITH_ENV) GOARCH=386 $(GOTEST) unit-386 -count=$(COUNT) $(UNIT_PKGS); \
	else \
		echo "test-unit: SKIP the linux/386 run: $$why; compiling its tests only"; \
		mkdir -p $(TIERS)/386 && echo "$$why (tests compiled, not run)" > $(TIERS)/unit-386.skipped; \
		GOARCH=386 $(GO) test -c -o $(TIERS)/386/ $(UNIT_PKGS) >/dev/null; \
	fi

test-integration: tools ## integration tier against a real Redis
	@mkdir -p build && rm -f build/redis-integration.txt
	$(WITH_ENV) ARQONBUS_TEST_REDIS_REPORT=$(CURDIR)/build/redis-integration.txt $(GOTEST) integration $(RACE) -tags integration ./test/integration/...
	@sed 's/^/integration: /' build/redis-integration.txt 2>/dev/null || echo "integration: no Redis used"

test-e2e: tools ## e2e tier: the built binary, real clients, real Redis
	@mkdir -p build && rm -f build/redis-e2e.txt
	$(WITH_ENV) ARQONBUS_TEST_REDIS_REPORT=$(CURDIR)/build/redis-e2e.txt $(GOTEST) e2e $(RACE) -tags e2e ./test/e2e/...
	@sed 's/^/e2e: /' build/redis-e2e.txt 2>/dev/null || echo "e2e: no Redis used"

test-regression: tools ## regression tier: one named test per fixed defect
	$(WITH_ENV) $(GOTEST) regression $(RACE) ./test/regression/...

test-adversarial: tools ## adversarial tier: hostile clients, floods, properties
	$(WITH_ENV) $(GOTEST) adversarial $(RACE) ./test/adversarial/...

# Not part of test-all: about 100 s with the default SOAK_DURATION=60s
# (docs/testing.md). No -race: the race detector's memory and CPU would
# swamp the RSS and latency the soak measures. SOAK_ATTACKS=publish,history,
# status,ping,connections runs some attacks only.
soak: tools ## a hostile tenant for SOAK_DURATION (60s) beside a well-behaved one: loss, p99, RSS; summary in build/soak.txt
	@mkdir -p build && rm -f build/soak.txt
	@status=0; $(WITH_ENV) SOAK_REPORT=$(CURDIR)/build/soak.txt $(GOTEST) soak -count=1 -timeout 15m \
		-tags e2e,soak -run '^TestSoak' ./test/e2e/... || status=$$?; \
	cat build/soak.txt 2>/dev/null || echo "soak: no summary written"; exit $$status

fuzz: ## run every fuzz target for FUZZTIME executions (default 100000x, 4-12 s each)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

test-all: ## everything CI runs: lint, testenv, the five tiers, fuzz, first-hour; then a per-step summary
	@scripts/test-all.sh

cover: testenv ## coverage of unit + integration + e2e, merged into build/coverage.txt
	@rm -rf build/cover && mkdir -p build/cover/unit build/cover/integration build/cover/e2e
	$(WITH_ENV) $(GO) test -count=1 -cover -coverpkg=./internal/... ./internal/... ./test/unit/... -args -test.gocoverdir=$(CURDIR)/build/cover/unit
	$(WITH_ENV) $(GO) test -count=1 -tags integration -cover -coverpkg=./internal/... ./test/integration/... -args -test.gocoverdir=$(CURDIR)/build/cover/integration
	$(WITH_ENV) ARQONBUS_E2E_GOCOVERDIR=$(CURDIR)/build/cover/e2e $(GO) test -count=1 -tags e2e ./test/e2e/...
	$(GO) tool covdata textfmt -i=build/cover/unit,build/cover/integration,build/cover/e2e -o build/coverage.txt
	$(GO) tool cover -func=build/coverage.txt | tail -n 1

cover-check: cover ## fail when total coverage is under COVER_MIN
	@total=$$($(GO) tool cover -func=build/coverage.txt | awk '/^total:/ {sub("%","",$$3); print $$3}'); \
	echo "coverage $$total% (minimum $(COVER_MIN)%)"; \
	awk -v t="$$total" -v m="$(COVER_MIN)" 'BEGIN { exit (t+0 < m+0) }'

# Not part of test-all: about 23 minutes on two cores (docs/testing.md); the
# nightly workflow runs it.
$(TOOLS)/gremlins: tools/go.mod tools/go.sum
	@mkdir -p $(TOOLS)
	cd tools && $(GO) build -o ../$(TOOLS)/ github.com/go-gremlins/gremlins/cmd/gremlins

mutation: $(TOOLS)/gremlins ## mutation testing of the core packages with gremlins; table in build/mutation.txt
	scripts/mutation.sh

bench: ## Go benchmarks (benchstat-friendly output in build/bench.txt)
	@mkdir -p build
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(COUNT) \
		./internal/protocol ./internal/bus ./internal/store/... ./internal/transport/... ./internal/app | tee build/bench.txt

clean: ## remove build outputs
	rm -rf $(BIN) build
