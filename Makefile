# CRM Gateway. `make test` is the test command CI runs (see .ci/run).
GO       ?= go
REDIS_URL ?= redis://127.0.0.1:6379/0
export REDIS_URL

.PHONY: all build run test test-short vet generate check-generate bench loadbench soak docs-assets tidy-check fuzz
.PHONY: image image-test compose-check helm-lint deploy-check

all: check-generate vet test

build: ## build the gateway and simulator binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...

run: ## run the gateway in sandbox mode
	$(GO) run ./cmd/gateway

test: ## every test, against real Redis at REDIS_URL
	$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v /e2e$$)
	@# The multi-process proofs (several gateways, simulators, Redis) run on
	@# their own: their timing figures mean little on a machine busy with
	@# other packages' tests.
	$(GO) test -count=1 -p 1 -timeout 15m ./e2e

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

loadbench: ## gateway vs the vendor simulator direct vs a Go ReverseProxy, one run on loopback (needs Redis)
	$(GO) run ./cmd/loadbench

soak: ## 10 minutes of steady load through the gateway: RSS, heap and goroutines must stay flat (not in CI)
	$(GO) run ./cmd/loadbench -soak 10m -concurrency 16

fuzz: ## every fuzz target for FUZZTIME each (default 15s); seed corpora also run in `make test`
	scripts/fuzz.sh

docs-assets: ## re-vendor Swagger UI (pinned version, checked sha256)
	./internal/docsui/update-assets.sh

# ---- Deploy artifacts (deploy/, checked by tools/deploycheck) ----
# No container engine needed. Tools are pinned outside the main go.mod: helm by
# tools/helm.mod (`go tool -modfile`), go-containerregistry, compose-go and
# BuildKit's Dockerfile parser by the tools/ module. The first run builds helm
# from source (a few minutes); later runs reuse Go's build cache.
VERSION    ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_ARCH ?= amd64
IMAGE_DIR  ?= bin/image
IMAGE_TAR  ?= $(IMAGE_DIR)/crm-gateway.tar
HELM       ?= $(GO) tool -modfile=tools/helm.mod helm
CHART      := deploy/helm/crm-gateway
HELM_OUT   := bin/helm
DEPLOYCHECK = $(GO) test -C tools -count=1 -v ./deploycheck

image: ## container image tarball (docker/podman load) without a container engine
	@mkdir -p $(IMAGE_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath \
		-ldflags "-s -w -X main.version=$(VERSION)" -o $(IMAGE_DIR)/gateway ./cmd/gateway
	$(GO) run -C tools ./imagebuild -binary $(abspath $(IMAGE_DIR)/gateway) -out $(abspath $(IMAGE_TAR)) \
		-version $(VERSION) -revision "$(REVISION)" -platform linux/$(IMAGE_ARCH)

image-test: image ## build the image, then inspect it and run its binary; check deploy/Dockerfile
	IMAGE_TAR=$(abspath $(IMAGE_TAR)) IMAGE_VERSION=$(VERSION) IMAGE_ARCH=$(IMAGE_ARCH) \
		$(DEPLOYCHECK) -run '^(TestImage|TestDockerfile)$$'

compose-check: ## validate deploy/docker-compose.yml with compose-go; start the gateway on its configs
	$(DEPLOYCHECK) -run '^TestCompose'

helm-lint: ## helm lint --strict and helm template (defaults, everything on, existing Secret), then check the manifests
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/full-values.yaml
	@mkdir -p $(HELM_OUT)
	$(HELM) template crm-gateway $(CHART) --namespace crm > $(HELM_OUT)/default.yaml
	$(HELM) template crm-gateway $(CHART) --namespace crm -f $(CHART)/ci/full-values.yaml > $(HELM_OUT)/full.yaml
	$(HELM) template crm-gateway $(CHART) --namespace crm --set secrets.existingSecret=crm-gateway-env \
		--set redis.url=redis://redis-master.redis.svc:6379/0 > $(HELM_OUT)/existing.yaml
	HELM_RENDERED=$(abspath $(HELM_OUT)) $(DEPLOYCHECK) -run '^TestHelm'

deploy-check: image-test compose-check helm-lint ## every deploy check (CI)
