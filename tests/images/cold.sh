#!/bin/sh
# SPDX-License-Identifier: MIT
# cold.sh --- the qcow2 walk on a cold page cache gives what it gives warm.
#
# Small L2 tables on a cold cache are read with the kernel's readahead
# off and each table named ahead (qcow2_walk.c).  Each image here is
# checked and mapped warm, then its pages are dropped from the page cache
# (fsync, POSIX_FADV_DONTNEED on the file: no root needed) and it is
# checked and mapped again: the JSON must be the same, the verdict must be
# qemu-img check's, and strace must show the cold branch was taken
# (POSIX_FADV_RANDOM) — a file system whose cache cannot be dropped is a
# failure, never a skip.
B=${B:-build}
for t in qemu-img qemu-io python3 strace; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "cold: FAIL: $t not found (make deps)" >&2; exit 1; }
done
# On the build tree's file system (tmpfs keeps its pages: nothing to drop).
mkdir -p "$B/tests/tmp"
T=$(mktemp -d "$B/tests/tmp/cold.XXXXXX") || exit 1
trap "[ -n \"\$KEEP\" ] || rm -rf \"\$T\"" EXIT
trap 'exit 1' INT TERM HUP
fail=0
n=0

drop() {	# FILE: its pages out of the page cache, and proof of it
	python3 - "$1" <<'PY'
import ctypes, mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
os.fsync(fd)
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
def cached():
    """Pages of the file in the page cache, from mincore(2) on a mapping
    that is never touched: a read with RWF_NOWAIT to ask would start the
    kernel's readahead on a miss and fill the cache it means to test."""
    if size == 0:
        return 0
    p = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if p == ctypes.c_void_p(-1).value:
        sys.exit("mmap: %s" % os.strerror(ctypes.get_errno()))
    vec = ctypes.create_string_buffer((size + 4095) // 4096)
    rc = libc.mincore(p, size, vec)
    err = ctypes.get_errno()
    libc.munmap(p, size)
    if rc != 0:
        sys.exit("mincore: %s" % os.strerror(err))
    return sum(b & 1 for b in vec.raw)
# Pages still on a per-CPU list are dropped by a second try.
for _ in range(20):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    left = cached()
    if left == 0:
        sys.exit(0)
    time.sleep(0.05)
sys.exit("%d pages of data still cached" % left)
PY
}

one() {	# NAME QEMU-IMG-CREATE-OPTIONS SIZE [QEMU-IO-COMMAND [-c CMD...]]
	name=$1
	img=$T/$name.qcow2
	qemu-img create -q -f qcow2 -o "$2" "$img" "$3" || {
		echo "cold: FAIL: $name: qemu-img create"; fail=1; return; }
	if [ -n "$4" ]; then
		shift 3
		qemu-io -f qcow2 -c "$@" "$img" > /dev/null || {
			echo "cold: FAIL: $name: qemu-io"; fail=1; return; }
	fi
	qemu-img check "$img" > /dev/null 2>&1
	qrc=$?
	"$B/bin/imgcheck" --output=json "$img" > "$T/$name.warm.json"
	wrc=$?
	"$B/bin/imgmap" --output=json "$img" > "$T/$name.warm.map"
	if ! drop "$img" 2> "$T/$name.drop"; then
		echo "cold: FAIL: $name: cannot drop the page cache here" \
		    "($(cat "$T/$name.drop"))"
		fail=1
		return
	fi
	# LeakSanitizer cannot run under ptrace (SAN=1 builds).
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    strace -f -e trace=fadvise64 -o "$T/$name.strace" \
	    "$B/bin/imgcheck" --output=json "$img" > "$T/$name.cold.json"
	crc=$?
	drop "$img" 2> /dev/null
	"$B/bin/imgmap" --output=json "$img" > "$T/$name.cold.map"
	n=$((n + 1))
	if [ $crc -ne $wrc ] || [ $crc -ne $qrc ]; then
		echo "cold: FAIL: $name: exit $crc cold, $wrc warm," \
		    "qemu-img check $qrc"
		fail=1
	fi
	cmp -s "$T/$name.warm.json" "$T/$name.cold.json" || {
		echo "cold: FAIL: $name: check JSON differs cold"; fail=1; }
	cmp -s "$T/$name.warm.map" "$T/$name.cold.map" || {
		echo "cold: FAIL: $name: map JSON differs cold"; fail=1; }
	grep -q POSIX_FADV_RANDOM "$T/$name.strace" || {
		echo "cold: FAIL: $name: the cold walk was not taken"; fail=1; }
	grep -q "POSIX_FADV_NORMAL" "$T/$name.strace" || {
		echo "cold: FAIL: $name: readahead not restored"; fail=1; }
}

one prealloc512 preallocation=metadata,cluster_size=512 64M
one written512 cluster_size=512 64M "write -P 0x5a 0 3M" \
    -c "write -P 0x5b 20M 3M" -c "write -P 0x5c 40M 3M" \
    -c "write -P 0x5d 61M 3M"
one prealloc1k preallocation=metadata,cluster_size=1024,refcount_bits=8 \
    96M
if [ $fail -ne 0 ]; then
	exit 1
fi
echo "cold: $n qcow2 images checked and mapped cold as warm," \
    "verdicts as qemu-img check's"
