# Build, run and test Switchboard. `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
BIN := $(CURDIR)/bin
TOOLS_BIN := $(CURDIR)/.cache/bin
# Every module of the workspace, as go.work lists them. `go test ./...`
# stops at module boundaries, so the targets below visit each module.
MODULES = $(shell $(GO) list -m -f '{{.Dir}}')
PROGRAMS := \
	./services/session/cmd/session \
	./services/registry/cmd/registry \
	./services/gateway/cmd/gateway \
	./services/gateway/cmd/switchboard \
	./pkg/cmd/demo-provider \
	./pkg/cmd/conformance-provider \
	./pkg/cmd/switchboard-dev \
	./pkg/cmd/switchboard-conformance
# -count=1: the end-to-end tests run programs built outside the test
# cache's view, so cached results could hide a change.
TESTFLAGS ?= -race -count=1
WITH_TOOLS := PATH="$(TOOLS_BIN):$$PATH"

# each_module runs `go $(1)` in every module that has packages (tools/
# has none), going on after a failure so that every failure shows.
define each_module
@fail=0; for m in $(MODULES); do \
	if [ -z "$$(cd "$$m" && $(GO) list -e ./... 2>/dev/null)" ]; then continue; fi; \
	echo "== go $(firstword $(1)) $${m#$(CURDIR)/}"; \
	(cd "$$m" && $(GO) $(1)) || fail=1; \
done; exit $$fail
endef

.PHONY: help build run test gotest tools generate check-generated lint breaking tsdeps \
	conformance conformance-upstream conformance-deps bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build every program into bin/
	$(GO) build -o $(BIN)/ $(PROGRAMS)

run: build ## run the whole suite locally; MCP endpoint http://127.0.0.1:8080/mcp
	$(BIN)/switchboard-dev

test: check-generated lint breaking tsdeps gotest conformance conformance-upstream ## everything CI runs

gotest: ## go test every module, the end-to-end tests included
	$(call each_module,test $(TESTFLAGS) ./...)

tools: ## install buf and the protoc plugins into .cache/bin
	cd tools && GOBIN=$(TOOLS_BIN) $(GO) install tool

generate: tools ## regenerate the Go code and OpenAPI file from proto/
	$(WITH_TOOLS) buf generate

check-generated: generate ## fail when the committed generated code is stale
	@changes=$$(git status --porcelain -- proto); \
	if [ -n "$$changes" ]; then \
		echo "$$changes"; \
		echo "generated code in proto/ is stale or uncommitted: run make generate" >&2; \
		exit 1; \
	fi

lint: tools ## buf lint, gofmt and go vet
	$(WITH_TOOLS) buf lint
	@unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then \
		echo "$$unformatted"; echo "these files need gofmt" >&2; exit 1; \
	fi
	$(call each_module,vet ./...)

breaking: tools ## compare proto/ with the main branch for breaking changes
	@if git rev-parse --verify --quiet main >/dev/null; then \
		$(WITH_TOOLS) buf breaking --against '.git#branch=main'; \
		echo "no breaking changes against main"; \
	else \
		echo "no main branch: skipping the breaking-change check"; \
	fi

tsdeps: ## install the end-to-end tests' npm packages (e2e/tsclient, e2e/upstreams)
	cd e2e/tsclient && npm ci --no-audit --no-fund
	cd e2e/upstreams && npm ci --no-audit --no-fund

bench: build ## measure the latency the gateway adds to a tool call
	cd e2e && $(GO) test -run '^$$' -bench ToolCall -benchtime 3000x .

conformance-deps: ## install the official conformance suite and Node 22 (conformance/)
	cd conformance && npm ci --no-audit --no-fund

# The official MCP conformance suite against two gateway replicas behind a
# round-robin proxy, with the conformance provider (empty prefix): both
# protocol generations on the one endpoint.
conformance: build conformance-deps ## run the official MCP conformance suite
	$(BIN)/switchboard-conformance -bin $(BIN) -npm conformance/node_modules \
		-run "conformance-0.1 --suite all" \
		-run "conformance-0.2 --requirements 2025-11-25" \
		-run "conformance-0.2 --requirements 2026-07-28"

# The official Go SDK's conformance server, pinned by version; built from
# its own module, so that its dependencies are the ones it was released with.
EVERYTHING_SERVER := github.com/modelcontextprotocol/go-sdk/conformance/everything-server@v1.8.0

$(BIN)/everything-server:
	GOWORK=off GOBIN=$(BIN) $(GO) install $(EVERYTHING_SERVER)

# The same suite against the gateway fronting that server as an upstream
# over Streamable HTTP (stateful, no prefix) instead of the provider.
conformance-upstream: build conformance-deps $(BIN)/everything-server ## run the conformance suite through an upstream MCP server
	$(BIN)/switchboard-conformance -bin $(BIN) -npm conformance/node_modules \
		-upstream $(BIN)/everything-server \
		-run "conformance-0.1 --suite all" \
		-run "conformance-0.2 --requirements 2025-11-25"

clean: ## remove built programs and installed tools
	rm -rf $(BIN) $(CURDIR)/.cache
