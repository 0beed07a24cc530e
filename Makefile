# StreamVault: `make run` and `make test` work on a fresh Debian machine as root.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
PYTEST     ?= /usr/bin/python3 -m pytest
# e2e files run in parallel (one file per worker: module fixtures stay in one process)
E2E_ARGS   ?= -n 2 --dist loadfile --timeout 900

.PHONY: all deps build run test unit e2e asan fuzz bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/streamvault

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

e2e: build
	SV_BINARY=$(CURDIR)/$(BUILD)/streamvault $(PYTEST) -q $(E2E_ARGS) tests/e2e

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	SV_BINARY=$(CURDIR)/$(ASAN_BUILD)/streamvault SV_SANITIZED=1 $(PYTEST) -q $(E2E_ARGS) tests/e2e

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dbuildtype=debugoptimized -Db_lundef=false \
	  -Db_sanitize=address,undefined -Dc_args=-fsanitize=fuzzer-no-link

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	bash scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

test: build unit e2e asan fuzz

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
