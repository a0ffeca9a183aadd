# CRM Gateway. `make test` is the test command CI runs (see .ci/run).
GO       ?= go
REDIS_URL ?= redis://127.0.0.1:6379/0
export REDIS_URL

.PHONY: all build run test test-short vet generate check-generate bench docs-assets tidy-check

all: check-generate vet test

build: ## build the gateway and simulator binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...

run: ## run the gateway in sandbox mode
	$(GO) run ./cmd/gateway

test: ## every test, against real Redis at REDIS_URL
	$(GO) test -count=1 -timeout 15m ./...

test-short: ## fast tests only
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

generate: ## regenerate internal/oapi from api/openapi.yaml
	$(GO) generate ./...

check-generate: generate ## fail if generated code or go.mod are stale
	git diff --exit-code -- internal/oapi
	$(GO) mod tidy -diff

bench: ## limiter benchmark: Redis limiter vs a bare EVALSHA, same run
	$(GO) run ./cmd/limiterbench -redis $(REDIS_URL)

docs-assets: ## re-vendor Swagger UI (pinned version, checked sha256)
	./internal/docsui/update-assets.sh
