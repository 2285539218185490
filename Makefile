# tou: the two set-up commands are `make demo` and `make test`. Each installs the
# Debian packages it needs when they are missing, then builds with CMake.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 300
PREFIX ?= /usr/local

# Everything the build, the tests and the fuzzers need, from Debian 12.
DEB_PACKAGES := cmake ninja-build g++ pkg-config git \
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libfmt-dev libsodium-dev \
  clang libclang-rt-14-dev \
  iproute2 tshark netcat-openbsd curl python3 iperf3 redis-server redis-tools
# Only `make bench` needs these: the other UDP transports it compares against.
BENCH_PACKAGES := libudt-dev libsrt-openssl-dev

.PHONY: all deps bench-deps build demo test asan tsan fuzz bench format format-check clean install

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

# build DIR with extra cmake flags
define cmake_build
	cmake -S . -B $(1) -G Ninja $(2) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(1) -j $(JOBS)
endef

build: deps
	$(call cmake_build,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)

# Headers, libtou.so and libtou.a, the CMake package and tou.pc under PREFIX.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The main job: transfers over simulated impaired links (until the engine and
# tools land, the simulator is the real transfer we can show).
demo: build
	@echo "== 20 MB each way, 100 Mbit/s link, 50 ms RTT, 1-BDP queue, 0.1% loss, CUBIC"
	$(BUILD)/bin/tou-sim --seed 1 --runs 1 --bytes 20000000 --delay 25 --rate 100 --queue 412 --loss 0.001 --cc cubic --verbose
	@echo "== 200 seeded runs: 5% loss, 2% duplication, 5% reordering, 1% corruption"
	$(BUILD)/bin/tou-sim --seed 1 --runs 200 --bytes 200000 --loss 0.05 --dup 0.02 --reorder 0.05 --corrupt 0.01
	@echo "== goodput by loss rate, NewReno and CUBIC"
	$(BUILD)/bin/tou-sim --table

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps
	$(call cmake_build,$(BUILD)-asan,-DCMAKE_BUILD_TYPE=Debug -DTOU_SANITIZE=address -DTOU_BENCH=OFF)
	cd $(BUILD)-asan && TOU_TEST_SCALE=0.25 ctest --output-on-failure -j $(JOBS)

tsan: deps
	$(call cmake_build,$(BUILD)-tsan,-DCMAKE_BUILD_TYPE=Debug -DTOU_SANITIZE=thread -DTOU_BENCH=OFF)
	cd $(BUILD)-tsan && TOU_TEST_SCALE=0.25 ctest --output-on-failure -j $(JOBS)

$(BUILD)-fuzz/.configured: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DTOU_FUZZ=ON -DTOU_TESTS=OFF -DTOU_BENCH=OFF >/dev/null
	touch $@

# Each fuzz target runs FUZZ_SECONDS on a copy of its committed seed corpus.
fuzz: $(BUILD)-fuzz/.configured
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	@for t in $$(ls $(BUILD)-fuzz/bin | grep '^fuzz_'); do \
	  name=$${t#fuzz_}; work=$(BUILD)-fuzz/corpus/$$name; mkdir -p $$work; \
	  echo "== $$t for $(FUZZ_SECONDS)s"; \
	  $(BUILD)-fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$work fuzz/corpus/$$name || exit 1; \
	done

bench: build bench-deps
	$(BUILD)/bin/tou_core_bench

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz
