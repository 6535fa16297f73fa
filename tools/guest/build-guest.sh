#!/bin/sh
# build-guest.sh: a small ppc64el Linux guest for QEMU pseries, from Debian's own packages.
#
#   tools/guest/build-guest.sh [--cache DIR] [--run SCRIPT] [--file SRC[:DEST]]... OUTDIR
#   tools/guest/build-guest.sh --fetch [--cache DIR]
#
# It fetches Debian 12's ppc64el kernel (linux-image-powerpc64le's current image), busybox-static,
# and coreutils with libc6 (for GNU dd: busybox's dd falls back to the page cache when its buffer
# is not aligned for O_DIRECT, which is always) with apt, into a cache outside the checkout (--cache, $TCEMU_GUEST_CACHE, default
# /var/cache/tcemu/guest), and unpacks what a guest needs there. A second run, or a fresh clone on
# the same machine, uses the cache and downloads nothing. apt runs with a private state directory
# under the cache and the machine's sources (APT::Architecture=ppc64el): the machine's dpkg state
# is not changed (no `dpkg --add-architecture`).
#
# Then it writes OUTDIR/vmlinux (a link into the cache) and OUTDIR/initrd.gz: busybox (its
# applets in /bin), GNU dd as /usr/bin/dd with the C library it needs, the virtio modules (virtio,
# virtio_ring, virtio_pci_legacy_dev, virtio_pci_modern_dev, virtio_pci, virtio_blk, failover,
# net_failover, virtio_net), tools/guest/init as /init, SCRIPT as /run (the guest's program) and
# the --file extras (SRC copied to DEST, default /basename). /init mounts /proc, /sys and /dev, loads the modules (kernel command-line options
# MODULE.PARAM=VALUE are handed to insmod, as modprobe would), runs /run with the command line's
# words after `--`, prints `tcemu-guest: /run exited with status N` and powers off.
#
# Boot it with:
#   qemu-system-ppc64 -M pseries -cpu POWER9 -m 1G -nographic -vga none -no-reboot \
#       -kernel OUTDIR/vmlinux -initrd OUTDIR/initrd.gz -append "console=hvc0 quiet"
#
# Exit status: 0 built; 1 error (a message says what); 3 the packages could not be fetched (no
# network, no mirror): the message says so, so a test can report it rather than skip silently.
set -eu

cache=${TCEMU_GUEST_CACHE:-/var/cache/tcemu/guest}
run=""
files=""
fetch_only=0
out=""
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "build-guest: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--cache) cache=$2; shift 2 ;;
	--run) run=$2; shift 2 ;;
	--file) files="$files $2"; shift 2 ;;
	--fetch) fetch_only=1; shift ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//; /^set -eu/d'; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) [ -z "$out" ] || die "one output directory"; out=$1; shift ;;
	esac
done
[ $fetch_only = 1 ] || [ -n "$out" ] || die "usage: build-guest.sh [--cache DIR] [--run SCRIPT] [--file SRC[:DEST]]... OUTDIR"

# The modules a virtio disk (and NIC) needs, in load order (no modules.dep in the package).
modules="virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net"

# What the cache's root/ holds; a cache made by an older version of this script is refetched.
cache_format=2

# --- fetch: the cache holds debs/ (the packages as downloaded) and root/ (what the guest uses) ---
fetch() {
	mkdir -p "$cache" || die "cannot create the cache $cache (set TCEMU_GUEST_CACHE)"
	if [ "$(cat "$cache/root/.complete" 2>/dev/null)" = "$cache_format" ]; then
		return 0
	fi
	command -v apt-get >/dev/null || die "apt-get is needed to fetch the ppc64el packages"
	command -v dpkg-deb >/dev/null || die "dpkg-deb is needed to unpack the ppc64el packages"
	apt_dir="$cache/apt"
	mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$cache/debs"
	# apt's sandbox user must be able to write where it downloads.
	chmod 755 "$cache" "$cache/debs" 2>/dev/null || true
	if id _apt >/dev/null 2>&1; then chown -R _apt "$apt_dir" "$cache/debs" 2>/dev/null || true; fi
	set -- -o Dir::State="$apt_dir/state" -o Dir::Cache="$apt_dir/cache" \
		-o APT::Architecture=ppc64el -o APT::Architectures=ppc64el -o Debug::NoLocking=1 -q
	echo "build-guest: fetching Debian's ppc64el package lists (private state in $apt_dir)" >&2
	# A list that fails (a mirror in sync, say) is not fatal if the two packages resolve.
	apt-get "$@" update >"$apt_dir/update.log" 2>&1 || echo "build-guest: apt-get update reported errors (see $apt_dir/update.log); trying with what it got" >&2
	image=$(apt-cache "$@" depends linux-image-powerpc64le 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-powerpc64le\)$/\1/p' | head -n 1)
	if [ -z "$image" ]; then
		echo "build-guest: cannot resolve linux-image-powerpc64le for ppc64el: no network or no Debian mirror reachable (see $apt_dir/update.log)" >&2
		exit 3
	fi
	echo "build-guest: downloading $image, busybox-static, coreutils and libc6 (ppc64el) into $cache/debs" >&2
	if ! (cd "$cache/debs" && apt-get "$@" download "$image" busybox-static coreutils libc6 >"$apt_dir/download.log" 2>&1); then
		echo "build-guest: download failed (see $apt_dir/download.log)" >&2
		exit 3
	fi
	rm -rf "$cache/root.new" "$cache/unpack"
	mkdir -p "$cache/root.new/modules" "$cache/unpack"
	for p in "$image" busybox-static coreutils libc6; do
		deb=$(ls -t "$cache"/debs/"$p"_*_ppc64el.deb 2>/dev/null | head -n 1)
		[ -n "$deb" ] || die "no $p package in $cache/debs after the download"
		dpkg-deb -x "$deb" "$cache/unpack"
	done
	cp "$cache"/unpack/boot/vmlinux-* "$cache/root.new/vmlinux"
	cp "$cache/unpack/bin/busybox" "$cache/root.new/busybox"
	cp "$cache/unpack/bin/dd" "$cache/root.new/dd"
	cp "$cache/unpack/lib/powerpc64le-linux-gnu/ld64.so.2" "$cache/unpack/lib/powerpc64le-linux-gnu/libc.so.6" \
		"$cache/root.new/"
	for m in $modules; do
		ko=$(find "$cache"/unpack/lib/modules -name "$m.ko" | head -n 1)
		[ -n "$ko" ] || die "module $m.ko not in $image"
		cp "$ko" "$cache/root.new/modules/"
	done
	echo "$image" >"$cache/root.new/kernel"
	rm -rf "$cache/unpack" "$cache/root"
	echo "$cache_format" >"$cache/root.new/.complete"
	mv "$cache/root.new" "$cache/root"
}

# One fetch at a time per cache (a test and a benchmark may start together on a fresh machine).
mkdir -p "$cache" || die "cannot create the cache $cache (set TCEMU_GUEST_CACHE)"
if command -v flock >/dev/null; then
	exec 9>"$cache/.lock"
	flock 9
fi
fetch
exec 9>&-
[ $fetch_only = 0 ] || { echo "$cache/root"; exit 0; }

# --- the initramfs, built fresh each time (it holds the program) ---
command -v cpio >/dev/null || die "cpio is needed to build the initramfs (apt-get install cpio; make deps does)"
mkdir -p "$out"
tree="$out/initramfs"
rm -rf "$tree"
mkdir -p "$tree/bin" "$tree/sbin" "$tree/proc" "$tree/sys" "$tree/dev" "$tree/tmp" "$tree/lib/modules" "$tree/etc" \
	"$tree/usr/bin" "$tree/lib64" "$tree/lib/powerpc64le-linux-gnu"
cp "$cache/root/busybox" "$tree/bin/busybox"
cp "$cache/root/dd" "$tree/usr/bin/dd"
cp "$cache/root/ld64.so.2" "$tree/lib64/ld64.so.2"
cp "$cache/root/libc.so.6" "$tree/lib/powerpc64le-linux-gnu/libc.so.6"
cp "$cache"/root/modules/*.ko "$tree/lib/modules/"
echo "$modules" >"$tree/etc/modules"
cp "$here/init" "$tree/init"
chmod 755 "$tree/init" "$tree/bin/busybox" "$tree/usr/bin/dd" "$tree/lib64/ld64.so.2"
if [ -n "$run" ]; then
	cp "$run" "$tree/run"
	chmod 755 "$tree/run"
fi
for f in $files; do
	src=${f%%:*}
	dest=${f#*:}
	[ "$dest" != "$f" ] || dest=/$(basename "$src")
	mkdir -p "$tree$(dirname "$dest")"
	cp "$src" "$tree$dest"
done
(cd "$tree" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$out/initrd.gz.new"
mv "$out/initrd.gz.new" "$out/initrd.gz"
rm -rf "$tree"
ln -sf "$cache/root/vmlinux" "$out/vmlinux"
echo "build-guest: $out/vmlinux ($(cat "$cache/root/kernel")), $out/initrd.gz" >&2
