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
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

# Test environment written by `make testenv` (the Redis image tag to use).
TESTENV   := build/testenv.sh
WITH_ENV  := set -a; if [ -f $(TESTENV) ]; then . ./$(TESTENV); fi; set +a;
GOTEST    := $(GO) test -race -count=$(COUNT)

# Fuzz targets: package path and target name.
FUZZ_TARGETS := \
	./internal/protocol:FuzzDecode \
	./internal/protocol:FuzzDecodeMatchesReference \
	./internal/auth:FuzzVerify \
	./internal/config:FuzzNormalizeProfile \
	./internal/config:FuzzLoad \
	./internal/store/redisstore:FuzzStreamKey

.PHONY: help build run lint fmt vet actionlint test test-unit test-integration test-e2e \
	test-regression test-adversarial test-all fuzz cover cover-check bench testenv image clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

build: ## build arqonbus, arqon and arqonbench into ./bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

run: build ## serve on 127.0.0.1:9100 (dev profile, memory storage, no external services)
	ARQONBUS_ENVIRONMENT=dev ARQONBUS_SERVER_HOST=127.0.0.1 ARQONBUS_SERVER_PORT=9100 \
	ARQONBUS_STORAGE_BACKEND=memory ./$(BIN)/arqonbus serve

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

actionlint:
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml

testenv: ## prepare what the tests need (a Redis image or redis-server)
	@mkdir -p build
	@tag=$$(scripts/redis-image.sh | tail -n 1); \
	{ echo "# written by make testenv"; \
	  if [ -n "$$tag" ]; then echo "$$tag"; fi; \
	  if [ -z "$${TESTCONTAINERS_RYUK_DISABLED:-}" ]; then echo "TESTCONTAINERS_RYUK_DISABLED=true"; fi; \
	} > $(TESTENV); \
	echo "testenv: $$(grep -v '^#' $(TESTENV) | tr '\n' ' ')"

test: test-unit test-regression test-adversarial ## unit + regression + adversarial (no external services)

test-unit: ## unit tier: every package's own tests and test/unit, also as 32-bit x86 (no -race there)
	$(WITH_ENV) $(GOTEST) ./cmd/... ./internal/... ./test/unit/...
	$(WITH_ENV) GOARCH=386 $(GO) test -count=$(COUNT) ./cmd/... ./internal/... ./test/unit/...

test-integration: ## integration tier against a real Redis
	@mkdir -p build && rm -f build/redis-integration.txt
	$(WITH_ENV) ARQONBUS_TEST_REDIS_REPORT=$(CURDIR)/build/redis-integration.txt $(GOTEST) -tags integration ./test/integration/...
	@sed 's/^/integration: /' build/redis-integration.txt 2>/dev/null || echo "integration: no Redis used"

test-e2e: ## e2e tier: the built binary, real clients, real Redis
	@mkdir -p build && rm -f build/redis-e2e.txt
	$(WITH_ENV) ARQONBUS_TEST_REDIS_REPORT=$(CURDIR)/build/redis-e2e.txt $(GOTEST) -tags e2e ./test/e2e/...
	@sed 's/^/e2e: /' build/redis-e2e.txt 2>/dev/null || echo "e2e: no Redis used"

test-regression: ## regression tier: one named test per fixed defect
	$(WITH_ENV) $(GOTEST) ./test/regression/...

test-adversarial: ## adversarial tier: hostile clients, floods, properties
	$(WITH_ENV) $(GOTEST) ./test/adversarial/...

fuzz: ## run every fuzz target for FUZZTIME executions (default 100000x, 4-12 s each)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

test-all: lint testenv test-unit test-integration test-e2e test-regression test-adversarial fuzz ## everything CI runs
	@echo "test-all: all tiers passed"

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

bench: ## Go benchmarks (benchstat-friendly output in build/bench.txt)
	@mkdir -p build
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(COUNT) \
		./internal/protocol ./internal/bus ./internal/store/... ./internal/transport/... ./internal/app | tee build/bench.txt

clean: ## remove build outputs
	rm -rf $(BIN) build
