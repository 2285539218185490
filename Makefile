# tou: the two set-up commands are `make demo` and `make test`. Each installs the
# Debian packages it needs when they are missing, then builds with CMake.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 300
# e.g. BENCH_ARGS="--only veth --quick": one group of make bench in minutes
BENCH_ARGS ?=
SOAK_SECONDS ?= 300
PREFIX ?= /usr/local

# Everything the build, the tests and the fuzzers need, from Debian 12.
DEB_PACKAGES := cmake ninja-build g++ pkg-config git \
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libfmt-dev libsodium-dev \
  clang libclang-rt-14-dev \
  iproute2 tshark netcat-openbsd curl python3 iperf3 redis-server redis-tools
# Only `make bench` needs these: the other UDP transports it compares against.
BENCH_PACKAGES := libudt-dev libsrt-openssl-dev

.PHONY: all deps bench-deps build demo test asan tsan soak fuzz bench format format-check clean install

all: build

# apt-get install whichever of PACKAGES are missing
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing missing packages:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

bench-deps:
	$(call install_missing,$(BENCH_PACKAGES))

# build DIR with extra cmake flags; our own builds treat warnings as errors
# (CMAKE_FLAGS=-DTOU_WERROR=OFF to relax)
define cmake_build
	cmake -S . -B $(1) -G Ninja -DTOU_WERROR=ON $(2) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(1) -j $(JOBS)
endef

build: deps
	$(call cmake_build,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)

# Headers, libtou.so and libtou.a, the CMake package and tou.pc under PREFIX.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The main job: a real transfer over tou on this machine, through tou-netem's
# impaired link (tou-perf with live intervals, then a 50 MB file by tou-cat).
demo: build
	bash tools/demo.sh $(BUILD)/bin

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The sanitizer runs are 2-5x slower and load the machine most: a test that
# fails there is run once more (ctest --repeat until-pass:2), and .ci/run
# lists every test that needed it as flaky, with its first failure in the log.
# A test that fails twice fails the stage. SANITIZER_REPEAT= turns it off.
SANITIZER_REPEAT ?= --repeat until-pass:2

asan: deps
	$(call cmake_build,$(BUILD)-asan,-DCMAKE_BUILD_TYPE=Debug -DTOU_SANITIZE=address -DTOU_BENCH=OFF)
	cd $(BUILD)-asan && TOU_TEST_SCALE=0.25 ctest --output-on-failure -j $(JOBS) $(SANITIZER_REPEAT)

# ThreadSanitizer where there are threads: the engine's I/O thread against the
# API's callers, i.e. the integration tests (engine, API, fd bridge; a test
# that cannot run under TSan reports SKIPPED with its reason), and the shim
# inside an instrumented threaded program (preload.shim_threads, under the
# TSan build's tou-run). The unit, script and simulator tests are
# single-threaded; the preload scripts drive uninstrumented programs, which
# cannot take TSan's runtime (make asan runs them).
tsan: deps
	cmake -S . -B $(BUILD)-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTOU_SANITIZE=thread \
	  -DTOU_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)-tsan -j $(JOBS) --target tou_integration_tests tou_shim_threads
	cd $(BUILD)-tsan && TOU_TEST_SCALE=0.25 ctest --output-on-failure -j $(JOBS) -L 'integration|shim' \
	  $(SANITIZER_REPEAT)

# Connect / transfer / close churn through tou-netem with random impairments,
# under AddressSanitizer, for SOAK_SECONDS: every transfer byte-exact, no
# descriptor or heap left behind (test/soak/soak.cpp).
soak: deps
	$(call cmake_build,$(BUILD)-asan,-DCMAKE_BUILD_TYPE=Debug -DTOU_SANITIZE=address -DTOU_BENCH=OFF)
	$(BUILD)-asan/bin/tou-soak --netem $(BUILD)-asan/bin/tou-netem --seconds $(SOAK_SECONDS)

$(BUILD)-fuzz/.configured: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DTOU_FUZZ=ON -DTOU_TESTS=OFF -DTOU_BENCH=OFF -DTOU_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	touch $@

# Each fuzz target runs FUZZ_SECONDS on a copy of its committed seed corpus.
fuzz: $(BUILD)-fuzz/.configured
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	@for t in $$(ls $(BUILD)-fuzz/bin | grep '^fuzz_'); do \
	  name=$${t#fuzz_}; work=$(BUILD)-fuzz/corpus/$$name; mkdir -p $$work; \
	  echo "== $$t for $(FUZZ_SECONDS)s"; \
	  $(BUILD)-fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$work fuzz/corpus/$$name || exit 1; \
	done

# tou side by side with the kernel's TCP, UDT and SRT (bench/results.md and
# .json), then the core's per-segment micro-benchmarks.
bench: deps bench-deps
	$(call cmake_build,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOU_BENCH_PEERS=ON)
	python3 bench/run_bench.py --bin $(BUILD)/bin $(BENCH_ARGS)
	$(BUILD)/bin/tou_core_bench --benchmark_min_time=0.2

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz
