# tcemu: the two set-up commands of the README, for a fresh Debian 12 machine, run as root.
#   make run    install what is missing, build, run the main job on the embedded default
#   make check  the same, then every test
# Other targets: build, bench, fuzz, install, clean, guest. BUILD=dir picks the build directory.
#   make fuzz   every fuzz harness (clang, libFuzzer, ASan+UBSan) for FUZZ_SECONDS each (60)
#   make guest  fetch the ppc64el guest's packages into TCEMU_GUEST_CACHE (make check does it when needed)

BUILD ?= build
MESON_FLAGS ?= --buildtype=release -Dwerror=true
# Debian packages the build and the tests need (qemu-system-ppc and cpio: the QEMU guest test;
# clang and its runtimes: the fuzz harnesses).
DEBS ?= gcc libc6-dev pkg-config meson ninja-build libdpdk-dev dpdk-dev qemu-system-ppc cpio clang libclang-rt-14-dev
FUZZ_SECONDS ?= 60
# Where tools/guest/build-guest.sh keeps Debian's ppc64el kernel and busybox (downloaded once).
export TCEMU_GUEST_CACHE ?= /var/cache/tcemu/guest

.PHONY: all deps build run check bench fuzz install clean guest

all: build

deps:
	@missing=""; \
	for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing Debian packages:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make: run as root (or install:$$missing)" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/tools/tcemu/tcemu run

check: build
	@rc=0; meson test -C $(BUILD) --print-errorlogs --num-processes 2 || rc=$$?; \
	sh tests/summary.sh $(BUILD)/meson-logs/testlog.txt; exit $$rc

bench: build
	meson test -C $(BUILD) --benchmark --verbose

fuzz: deps
	[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz --buildtype=debugoptimized -Dfuzz=true \
		-Dtests=false -Dbench=false -Db_lundef=false
	ninja -C build-fuzz tests/fuzz/fuzz_topology tests/fuzz/fuzz_vfio tests/fuzz/fuzz_guest tests/fuzz/fuzz_devices
	sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) 2

guest: deps
	sh tools/guest/build-guest.sh --fetch

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
