# The two README commands (`make run`, `make test`) plus a few conveniences.
# meson + ninja do the real work; see docs/internals/testing.md and docs/internals/bench.md.
# BUILD / ASAN_BUILD choose the build directories (e.g. make test BUILD=build-x ASAN_BUILD=build-x-asan).
.PHONY: all deps build asan run test e2e bench clean

BUILD ?= build
ASAN_BUILD ?= build-asan
ASAN_OPTS := -Db_sanitize=address,undefined -Db_lundef=false
ARGS ?=
export BUILD ASAN_BUILD

all: build

deps:
	@scripts/install-deps

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)

asan: deps
	@if [ -f $(ASAN_BUILD)/build.ninja ]; then meson configure $(ASAN_BUILD) $(ASAN_OPTS) >/dev/null; \
	 else meson setup $(ASAN_BUILD) $(ASAN_OPTS); fi
	@ninja -C $(ASAN_BUILD)

# Like `mitmdump`: all interfaces, port 8080 (the defaults). Extra flags: make run ARGS="-v".
run: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD) mitmc
	exec ./$(BUILD)/mitmc dump $(ARGS)

# Both builds, every test (unit, layer, fuzz replays, e2e on both binaries), one summary line.
test:
	@scripts/test

# Only the end-to-end tests against $(BUILD)/mitmc; e.g. make e2e ARGS="-k chunked".
e2e: build
	MITMC_BIN=$(BUILD)/mitmc /usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider $(ARGS)

bench: build
	bench/run --build-dir $(BUILD) $(ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) bench/out
