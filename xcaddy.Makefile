# Build, run and test auth_gate.   make -f xcaddy.Makefile <target>
#
#   build   bin/caddy: Caddy's standard modules plus auth_gate (go build ./cmd/caddy)
#   run     the demo: examples/python-app behind bin/caddy on http://localhost:8080
#   test    gofmt and go vet checks, then every Go test, against a throwaway
#           PostgreSQL cluster unless TEST_DATABASE_URL is set
#   xcaddy  check that outside users can plug the module into their own
#           build: xcaddy build --with github.com/authgate/authgate=./
#   fmt     gofmt -w;  fmt-check: fail when gofmt would change a file
#   vet     go vet ./...
#   clean   remove bin/

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO ?= go
MODULE := github.com/authgate/authgate
CADDY_VERSION := v2.11.9
XCADDY_VERSION := v0.4.5
# One folder per tool version, so that changing a version installs it anew.
XCADDY_DIR := $(CURDIR)/bin/tools/xcaddy-$(XCADDY_VERSION)
XCADDY := $(XCADDY_DIR)/xcaddy

# go test's own deadline; the suite normally takes a fraction of it.
TEST_TIMEOUT ?= 30m
# Extra go test flags, e.g. TESTFLAGS='-run TestGate -v'.
TESTFLAGS ?=

.PHONY: build run test xcaddy fmt fmt-check vet clean

build:
	$(GO) build -o bin/caddy ./cmd/caddy

run: build
	scripts/run-demo.sh

# Caddy's data and config directories (the generated secret, the SQLite
# default database, autosaved configs) go to a temporary folder, so that tests
# never touch the user's own. GOENV keeps pointing at the user's Go settings,
# which otherwise live under XDG_CONFIG_HOME. CI=true passes through: the Go
# helpers then fail, instead of skipping, tests that lack PostgreSQL.
# The outage tests stop and restart the cluster, so they run alone, after
# every other package, which would otherwise lose its database mid-test.
test: fmt-check vet
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export GOENV="$$($(GO) env GOENV)"; \
	export XDG_CONFIG_HOME="$$tmp/config" XDG_DATA_HOME="$$tmp/data"; \
	GO=$(GO) scripts/test-postgres.sh scripts/go-test.sh -timeout $(TEST_TIMEOUT) $(TESTFLAGS)

# Go files of ours: not those that an npm package may ship under node_modules.
GOFILES = $$(find . -name '*.go' -not -path '*/node_modules/*' -not -path './bin/*')

fmt:
	gofmt -w $(GOFILES)

fmt-check:
	@files=$$(gofmt -l $(GOFILES)); \
	if [ -n "$$files" ]; then \
		echo "gofmt would change these files (run: make -f xcaddy.Makefile fmt):" >&2; \
		echo "$$files" >&2; exit 1; \
	fi

vet:
	$(GO) vet ./...

$(XCADDY):
	GOBIN=$(XCADDY_DIR) $(GO) install github.com/caddyserver/xcaddy/cmd/xcaddy@$(XCADDY_VERSION)

# xcaddy runs `go get $(MODULE)` even though it replaces the module with this
# folder. That lookup would ask the module proxy about a path it does not
# serve (403), and a direct lookup would need a network this build may not
# have. Marking the path private keeps it away from the proxy and the checksum
# database, and GOVCS=<path>:off turns the direct lookup into a plain "not
# found", after which Go falls back to the local replacement. Caddy and the
# other dependencies still come through the proxy as usual.
xcaddy: $(XCADDY)
	@$(GO) list $(MODULE) >/dev/null 2>&1 || { \
		echo "xcaddy: $(MODULE) must be a Go package that registers the module" >&2; \
		echo "        (a root .go file importing _ \"$(MODULE)/caddyauth\"), since xcaddy imports it" >&2; \
		exit 1; }
	GOPRIVATE=$(MODULE) GONOPROXY=$(MODULE) GONOSUMDB=$(MODULE) GOVCS=$(MODULE):off \
		$(XCADDY) build $(CADDY_VERSION) --with $(MODULE)=./ --output bin/caddy-xcaddy
	bin/caddy-xcaddy list-modules | grep -x 'http.handlers.auth_gate'

clean:
	rm -rf bin

# Load benchmark (cmd/authbench): auth_gate, with and without its session
# cache, on PostgreSQL and SQLite, against plain reverse_proxy; sign-in and
# get-session against the hash-bound limit. Runs on a throwaway PostgreSQL
# cluster unless TEST_DATABASE_URL is set, in under 3 minutes. Flags, e.g.
# BENCHFLAGS='--peer=better-auth' (also runs Node Better Auth 1.7.25 on the
# same database), '--json', '--duration=2s': go run ./cmd/authbench -h.
BENCHFLAGS ?=

.PHONY: bench
bench:
	scripts/test-postgres.sh $(GO) run ./cmd/authbench $(BENCHFLAGS)
