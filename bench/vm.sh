#!/bin/sh
# SPDX-License-Identifier: MIT
# vm.sh --- bench/table.py inside a KVM guest: the second kind of machine
# users run us on.  Builds once, into build/vm, a Debian bookworm guest
# (debootstrap; root file system as an ext4 image, its own kernel and
# initrd from linux-image-amd64) and a work disk holding bench/, build/bin
# and the bench images (sparse); boots it with qemu -accel kvm -cpu host;
# the guest's init runs `B=build python3 bench/table.py` as root (so cold
# rows drop the guest's caches), writes its table and bench.json onto the
# work disk and powers off.  The results land in build/vm/bench-Ncpu.txt
# and build/vm/bench-Ncpu.json, the guest's facts (kernel, CPU model and
# flags, clocksource) in build/vm/guest-Ncpu.txt.  Run as root (apt-get,
# debootstrap, loop mounts, /dev/kvm).  Not part of make bench.
#
# VM_CPUS (2) and VM_MEM (8G) size the guest; VM_IMAGES names the images
# of build/bench copied in (the default is what the default rows read:
# the last one is 17 GB allocated; a row whose image is missing builds it
# in the guest, on the work disk); BENCH_ROWS (the qcow2 and QED check
# and map rows, warm and cold), BENCH_RUNS, BENCH_COLD and BENCH_CPUS go
# through to table.py.  VM_REBUILD=1 builds the guest anew; VM_TIMEOUT
# (7200 s) bounds one guest run.  VM_KERNEL and VM_INITRD boot another
# kernel (VM_INITRD= for none: its virtio-blk and ext4 then built in),
# e.g. one built for a PVM host.  VM_ACCEL=tcg is for trying the
# plumbing on a machine without KVM only: its results go to
# bench-Ncpu-tcg.* and their timings mean nothing.
set -u
B=${B:-build}
V=build/vm
CPUS=${VM_CPUS:-2}
MEM=${VM_MEM:-8G}
ACCEL=${VM_ACCEL:-kvm}
IMAGES=${VM_IMAGES:-q1t.qcow2 q8g512-qemu.qcow2 q8t2m.qcow2 qed64g-16g.qed}
ROWS=${BENCH_ROWS:-check1t,check1t-cold,check8g512,check8g512-cold,check8t,check8t-cold,checkqed,checkqed-cold,map1t,map1t-cold}
TIMEOUT=${VM_TIMEOUT:-7200}
MIRROR=${VM_MIRROR:-http://deb.debian.org/debian}
MNT=$V/mnt
KERNEL=${VM_KERNEL:-$V/vmlinuz}
INITRD=${VM_INITRD-$V/initrd.img}
if [ "$ACCEL" = kvm ]; then
	tag=${CPUS}cpu
	cpu=host
else
	tag=${CPUS}cpu-$ACCEL
	cpu=max
fi

die() {
	echo "vm: $*" >&2
	exit 1
}
now() { date +%s; }

[ -f bench/table.py ] || die "run from the top of the source tree"
[ "$(id -u)" = 0 ] || die "run as root (apt-get, debootstrap, mount -o loop)"
[ -x "$B/bin/imgcheck" ] || die "$B/bin/imgcheck missing: run make first"
[ ! -f bench/runone.c ] || [ -x "$B/bench/runone" ] ||
    die "$B/bench/runone missing: run make $B/bench/runone first"
mkdir -p "$V" "$MNT"

# ---- the host's tools ----------------------------------------------------
# Installed on Debian when missing; apt-get update only when the first
# install fails (a stale list).
need=
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap"
command -v mkfs.ext4 >/dev/null 2>&1 || need="$need e2fsprogs"
command -v qemu-img >/dev/null 2>&1 || need="$need qemu-utils"
if [ -n "$need" ]; then
	[ -f /etc/debian_version ] || die "needs:$need"
	echo "vm: apt-get install$need"
	apt-get install -y $need >/dev/null ||
	    { apt-get update >/dev/null && apt-get install -y $need >/dev/null; } ||
	    die "apt-get install$need failed"
fi
if [ "$ACCEL" = kvm ]; then
	[ -w /dev/kvm ] || die "/dev/kvm missing or not writable"
	# A host whose KVM is PVM (kvm_pvm, no vmx/svm flag: a cloud VM
	# without nested virtualization) runs only guest kernels built
	# for PVM; a distribution kernel stops there with "KVM internal
	# error ... emulation failure" (the watch below says so).
	if [ -d /sys/module/kvm_pvm ] &&
	    ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
		echo "vm: warning: this host's KVM is PVM (kvm_pvm, no" \
		    "vmx/svm): a stock Debian guest kernel is not expected" \
		    "to boot" >&2
	fi
fi

# ---- the guest: root file system, kernel, initrd (once) ------------------
# debootstrap --variant=minbase with what the tools and bench/table.py
# run: qemu-utils (bookworm's 7.2, as on the host), python3, GNU time,
# taskset (util-linux), procps, lz4, and the libraries ldd lists for our
# binaries.  The kernel and initrd are copied out for -kernel/-initrd; the
# tree becomes an ext4 image with mkfs.ext4 -d (no loop device needed)
# and is removed.  root.ok marks a finished build.
PKGS=linux-image-amd64,qemu-utils,python3,lz4,time,util-linux,procps
PKGS=$PKGS,libjson-c5,liblz4-1,libzstd1,libsodium23,libssl3,libncursesw6
PKGS=$PKGS,zlib1g
if [ "${VM_REBUILD:-0}" = 1 ]; then
	rm -f "$V/root.ok" "$V/work.img"
fi
if [ ! -f "$V/root.ok" ]; then
	t0=$(now)
	r=$V/root.d
	rm -rf "$r" "$V/root.img"
	echo "vm: debootstrap bookworm into $r (once)"
	debootstrap --variant=minbase --include="$PKGS" bookworm "$r" \
	    "$MIRROR" >"$V/debootstrap.log" 2>&1 ||
	    die "debootstrap failed: see $V/debootstrap.log"
	k=$(ls "$r"/boot/vmlinuz-* 2>/dev/null | tail -n 1)
	i=$(ls "$r"/boot/initrd.img-* 2>/dev/null | tail -n 1)
	[ -n "$k" ] && [ -n "$i" ] || die "no kernel or initrd in $r/boot"
	cp "$k" "$V/vmlinuz" && cp "$i" "$V/initrd.img" || exit 1
	chroot "$r" dpkg-query -W -f '${Package} ${Version}\n' \
	    >"$V/packages.txt"
	echo vm >"$r/etc/hostname"
	mkdir -p "$r/mnt/w"
	# 1 GiB free beyond the tree: the guest writes little to it.
	mb=$(du -sm "$r" | cut -f1)
	mkfs.ext4 -q -F -L vmroot -d "$r" "$V/root.img" "$((mb + 1024))M" \
	    >/dev/null ||
	    die "mkfs.ext4 -d $r failed"
	rm -rf "$r"
	echo "$(($(now) - t0)) s to build the guest ($(basename "$k"))" |
	    tee "$V/root.ok"
fi

# ---- the init of the guest -----------------------------------------------
# PID 1 after the initrd has mounted /dev/vda: written into the root
# image on every run (so a change here needs no rebuild).  It reads the
# BENCH_* settings from vm/env on the work disk, runs the table there and
# powers off whatever happens.
cat >"$V/vm-init" <<'EOF'
#!/bin/sh
# vm-init --- PID 1 of the bench/vm.sh guest: mount the work disk at
# /mnt/w, run bench/table.py there with vm/env, power off.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
LANG=C.UTF-8
export PATH HOME LANG
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mountpoint -q /tmp || mount -t tmpfs tmpfs /tmp
off() {
	sync
	cd /
	umount /mnt/w 2>/dev/null
	sync
	echo o >/proc/sysrq-trigger
	sleep 10
	exit 1
}
if ! mount -t ext4 /dev/vdb /mnt/w; then
	echo "vm-init: cannot mount /dev/vdb"
	off
fi
cd /mnt/w || off
set -a
. vm/env
set +a
B=build
export B
{
	echo "kernel: $(uname -r) ($(uname -v))"
	grep -m1 '^model name' /proc/cpuinfo
	echo "cpus: $(nproc)"
	grep -m1 '^MemTotal' /proc/meminfo
	grep -qw hypervisor /proc/cpuinfo && echo "hypervisor flag: yes" ||
	    echo "hypervisor flag: no"
	echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)" \
	    "(available: $(cat /sys/devices/system/clocksource/clocksource0/available_clocksource))"
	grep -m1 '^flags' /proc/cpuinfo
	echo "cmdline: $(cat /proc/cmdline)"
	qemu-img --version | head -n 1
	python3 --version
	echo "disks: $(cat /sys/block/vdb/queue/scheduler) (vdb scheduler)"
} >vm/guest.txt 2>&1
cat vm/guest.txt
echo "vm-init: BENCH_ROWS=$BENCH_ROWS BENCH_RUNS=$BENCH_RUNS"
{
	python3 bench/table.py
	echo $? >vm/rc
} 2>&1 | tee vm/table.txt
for f in build/bench.json build/bench-cpus-*.json; do
	[ -f "$f" ] && cp "$f" vm/bench.json
done
off
EOF
chmod 755 "$V/vm-init"

# ---- the work disk -------------------------------------------------------
# An ext4 image of the images' allocated size plus 2 GiB, made once and
# mounted on a loop device to refresh: bench/, build/bin and
# build/bench/runone copied anew each run, images copied with
# cp --sparse=always when missing or changed on the host, images not in
# VM_IMAGES removed.  Laid out as the source tree, so that in the guest
# `cd /mnt/w && B=build python3 bench/table.py` reads build/bench and
# build/bin as on the host.
need_kib=2097152
for img in $IMAGES; do
	f=build/bench/$img
	[ -f "$f" ] || die "$f missing (build it on the host, or drop it" \
	    "from VM_IMAGES)"
	need_kib=$((need_kib + $(du -k "$f" | cut -f1)))
done
have_kib=0
[ -f "$V/work.img" ] && have_kib=$(($(stat -c %s "$V/work.img") / 1024))
if [ "$have_kib" -lt "$need_kib" ]; then
	echo "vm: making $V/work.img ($((need_kib / 1048576 + 1)) GiB, sparse)"
	rm -f "$V/work.img"
	truncate -s "$((need_kib / 1048576 + 1))G" "$V/work.img" &&
	    mkfs.ext4 -q -F -L vmwork -m 0 "$V/work.img" ||
	    die "mkfs.ext4 $V/work.img failed"
fi
cleanup() {
	mountpoint -q "$MNT" && umount "$MNT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mount -o loop "$V/root.img" "$MNT" || die "mount -o loop $V/root.img failed"
cp "$V/vm-init" "$MNT/sbin/vm-init" || die "cannot write /sbin/vm-init"
umount "$MNT" || exit 1
mount -o loop "$V/work.img" "$MNT" || die "mount -o loop $V/work.img failed"
w=$MNT
rm -rf "$w/bench" "$w/build/bin" "$w/build/bench/runone" "$w/vm" \
    "$w/build/bench.json" "$w"/build/bench-cpus-*.json
mkdir -p "$w/build/bench" "$w/vm"
cp -a bench "$w/bench" && cp -a "$B/bin" "$w/build/bin" || exit 1
rm -rf "$w/bench/__pycache__"
for f in "$w"/build/bench/*; do
	[ -f "$f" ] || continue
	case " $IMAGES " in
	*" $(basename "$f") "*) ;;
	*) rm -f "$f" ;;
	esac
done
# table.py's timer (make $B/bench/runone), when this tree has one.
[ -f "$B/bench/runone" ] && cp -a "$B/bench/runone" "$w/build/bench/"
for img in $IMAGES; do
	s=build/bench/$img
	d=$w/build/bench/$img
	if [ -f "$d" ] && [ "$(stat -c %s.%Y "$s")" = "$(stat -c %s.%Y "$d")" ]
	then
		continue
	fi
	echo "vm: copying $s ($(du -h "$s" | cut -f1) allocated)"
	cp --sparse=always --preserve=timestamps "$s" "$d.tmp" &&
	    mv "$d.tmp" "$d" || die "copying $s failed"
done
{
	echo "BENCH_ROWS='$ROWS'"
	echo "BENCH_RUNS='${BENCH_RUNS:-5}'"
	echo "BENCH_COLD='${BENCH_COLD:-1}'"
	[ -n "${BENCH_CPUS:-}" ] && echo "BENCH_CPUS='$BENCH_CPUS'"
} >"$w/vm/env"
umount "$MNT" || exit 1

# ---- the run -------------------------------------------------------------
# virtio-blk with cache=none (O_DIRECT on the host, aio=native): the
# guest's page cache is then the only one, so a cold row (the guest drops
# its caches) reads the host's disk, not the host's page cache, and the
# host does not keep a second copy of the guest's memory.  The console
# goes to console-Ncpu.log; the watch below stops qemu when KVM reports
# an internal error (qemu would keep the guest paused forever), when the
# guest kernel has not printed its banner within 120 s (a second or two
# under KVM), or after VM_TIMEOUT.
log=$V/console-$tag.log
err=$V/qemu-$tag.err
rm -f "$log" "$err" "$V/bench-$tag.txt" "$V/bench-$tag.json" \
    "$V/guest-$tag.txt"
set -- qemu-system-x86_64 -accel "$ACCEL" -cpu "$cpu" -smp "$CPUS" \
    -m "$MEM" -nographic -monitor none -serial "file:$log" -nic none \
    -no-reboot -kernel "$KERNEL" \
    -append "console=ttyS0 root=/dev/vda rw init=/sbin/vm-init panic=-1" \
    -drive "file=$V/root.img,format=raw,if=virtio,cache=none,aio=native" \
    -drive "file=$V/work.img,format=raw,if=virtio,cache=none,aio=native"
[ -z "$INITRD" ] || set -- "$@" -initrd "$INITRD"
echo "vm: $*"
t0=$(now)
"$@" >"$err" 2>&1 &
qpid=$!
why=
while kill -0 "$qpid" 2>/dev/null; do
	sleep 2
	t=$(($(now) - t0))
	if grep -q 'KVM internal error' "$err" 2>/dev/null; then
		why="KVM internal error (see $err): this KVM cannot run"
		why="$why the guest kernel"
	elif [ "$t" -gt 120 ] && ! grep -q 'Linux version' "$log" 2>/dev/null
	then
		why="no kernel banner in $log after $t s: the guest"
		why="$why kernel does not run (or runs emulated)"
	elif [ "$t" -gt "$TIMEOUT" ]; then
		why="timed out after $t s (VM_TIMEOUT)"
	fi
	if [ -n "$why" ]; then
		kill "$qpid"
		break
	fi
done
wait "$qpid"
rc=$?
echo "vm: guest ran $(($(now) - t0)) s, qemu exit $rc"
[ -z "$why" ] || die "$why"

# ---- the results ---------------------------------------------------------
mount -o loop,ro "$V/work.img" "$MNT" || die "mount $V/work.img failed"
[ -f "$w/vm/table.txt" ] || die "the guest wrote no table (see $log)"
cp "$w/vm/table.txt" "$V/bench-$tag.txt"
cp "$w/vm/guest.txt" "$V/guest-$tag.txt"
[ -f "$w/vm/bench.json" ] && cp "$w/vm/bench.json" "$V/bench-$tag.json"
grc=$(cat "$w/vm/rc" 2>/dev/null || echo '?')
umount "$MNT"
echo "== guest"
cat "$V/guest-$tag.txt"
echo "== bench/table.py in the guest (exit $grc)"
cat "$V/bench-$tag.txt"
[ "$ACCEL" = kvm ] || echo "vm: accel $ACCEL: these timings mean nothing"
echo "vm: $V/bench-$tag.txt, $V/bench-$tag.json, $V/guest-$tag.txt"
[ "$grc" = 0 ]
