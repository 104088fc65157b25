# Wraps the commands the README shows; nothing here that the README doesn't explain.
.PHONY: help demo run test ci lint build bench

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

help: ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

demo: ## run the demo on http://127.0.0.1:8080 (simulated Twitch, no configuration)
	go run ./cmd/twitchrelay -demo

run: demo ## same as demo

test: ## run every test (Redis at REDIS_URL, Chromium if installed)
	go test -race ./...

ci: ## what CI runs: provisioning, gofmt, vet, staticcheck, tests
	bash .ci/run

lint: ## gofmt, go vet and staticcheck (the version pinned in go.mod)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...
	go tool staticcheck ./...

build: ## build the binary exactly as the Dockerfile does
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o twitchrelay ./cmd/twitchrelay

bench: ## the load harness (see docs/PERFORMANCE.md)
	go run ./cmd/relaybench
