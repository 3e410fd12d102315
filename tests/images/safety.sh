#!/bin/sh
# SPDX-License-Identifier: MIT
# safety.sh --- nothing a user owns is lost by running us:
#  - -o onto the input (directly, through a symlink or a hard link) is
#    refused and the input is intact;
#  - a failing repair or extract leaves an existing target byte-identical;
#  - FIFOs, sockets, character devices and directories get an error at
#    once;
#  - an image QEMU holds open for writing is refused (qemu-io), -U reads it;
#  - SIGKILL at every write of an in-place repair, and of an apply, always
#    leaves an image that --apply-undo restores bit for bit;
#  - an undo file for another image, damaged, or applied twice is refused
#    and writes nothing;
#  - a forced format that does not fit the file does not mislead;
#  - SIGINT and SIGTERM end a long check at once;
#  - reading an image leaves its access time alone.
# Needs qemu-img, qemu-io and strace (make deps installs them): a missing
# one is a failure, not a skip.
B=${B:-build}
BIN=$B/bin
MK=$B/tests/bin
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
n=0
fail=0
for t in qemu-img qemu-io strace timeout python3; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "safety: $t is missing (make deps)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/safety.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

bad() {
	echo "safety: $*" >&2
	fail=$((fail + 1))
}
ok() {
	n=$((n + 1))
}
# expect NAME WANT-EXIT COMMAND...: exit status, and a message on exit 1.
expect() {
	name=$1 want=$2
	shift 2
	n=$((n + 1))
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "$name: exit $rc, want $want"
		sed 's/^/    /' "$T/out" "$T/err" | head -10 >&2
	elif [ "$rc" -eq 1 ] && ! [ -s "$T/err" ]; then
		bad "$name: exit 1 without a message"
	fi
}
# same NAME A B: files identical
same() {
	n=$((n + 1))
	cmp -s "$2" "$3" || bad "$1: '$2' changed"
}

# ---- images ---------------------------------------------------------------
qed_broken() {	# FILE: NEED_CHECK, data, and an L1 entry that is unaligned
	qemu-img create -q -f qed "$1" 64M &&
	qemu-io -f qed -c 'write -P 0x11 0 64k' -c 'write -P 0x22 8M 64k' \
	    "$1" >/dev/null &&
	python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(16); f.write(struct.pack("<Q", 2))
    f.seek(0x10000 + 8); f.write(struct.pack("<Q", 0x123000))
PY
}
qed_broken "$T/a.qed" || { echo "safety: cannot make a QED image" >&2; exit 1; }
cp "$T/a.qed" "$T/a.orig"
for d in cut stale half-append; do
	"$MK/a7_mk" "$T/$d.ar7" "$d" ||
	    { echo "safety: a7_mk $d failed" >&2; exit 1; }
	cp "$T/$d.ar7" "$T/$d.orig"
done
"$MK/sparse_mk" std "$T/s.data" >/dev/null 2>&1 ||
    { echo "safety: sparse_mk failed" >&2; exit 1; }
qemu-img create -q -f qcow2 "$T/q.qcow2" 64M
qemu-io -f qcow2 -c 'write -P 0x44 0 1M' "$T/q.qcow2" >/dev/null

# ---- outputs are never inputs ---------------------------------------------
ln -s a.qed "$T/link.qed"
ln "$T/a.qed" "$T/hard.qed"
for o in a.qed link.qed hard.qed ./a.qed; do
	expect "-o $o onto the QED input" 1 "$BIN/imgrepair" -r all \
	    -o "$T/$o" "$T/a.qed"
	same "-o $o onto the QED input" "$T/a.qed" "$T/a.orig"
done
rm -f "$T/hard.qed"
ln -s cut.ar7 "$T/link.ar7"
for o in cut.ar7 link.ar7; do
	expect "-o $o onto the archive" 1 "$BIN/imgrepair" -r all \
	    --key-hex $KEY -o "$T/$o" "$T/cut.ar7"
	same "-o $o onto the archive" "$T/cut.ar7" "$T/cut.orig"
done
cp "$T/s.data" "$T/s.orig"
expect "-o onto the stream" 1 "$BIN/imgrepair" -r all -o "$T/s.data" \
    "$T/s.data"
same "-o onto the stream" "$T/s.data" "$T/s.orig"
expect "extract onto the input" 1 "$BIN/imgmap" --extract \
    -o "$T/s.data" "$T/s.data"
same "extract onto the input" "$T/s.data" "$T/s.orig"

# ---- failing work leaves an existing target as it was ----------------------
printf 'precious\n' >"$T/target"
cp "$T/target" "$T/target.orig"
expect "failing extract" 1 "$BIN/imgmap" --extract=nosuch -o "$T/target" \
    "$T/q.qcow2"
same "failing extract" "$T/target" "$T/target.orig"
expect "failing repair (no key)" 1 env -u IMGKIT_A7_KEY "$BIN/imgrepair" \
    -r all -o "$T/target" "$T/cut.ar7"
same "failing repair (no key)" "$T/target" "$T/target.orig"
head -c 1048576 /dev/urandom >"$T/plain.raw"
expect "repair of a format without one" 1 "$BIN/imgrepair" -r all \
    -o "$T/target" "$T/plain.raw"
same "repair of a format without one" "$T/target" "$T/target.orig"
ls -a "$T" | grep -q '\.tmp' && bad "a temporary output was left behind"
ok
# A repair that works replaces the target, and the copy checks clean
# under a name that does not say its format.
expect "repair into an existing file" 0 "$BIN/imgrepair" -r all \
    --key-hex $KEY -o "$T/target" "$T/cut.ar7"
expect "re-check of a copy without suffix" 0 "$BIN/imgcheck" -f archive7 \
    --key-hex $KEY "$T/target"

# ---- special files ----------------------------------------------------------
mkfifo "$T/fifo"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
    "$T/sock"
for f in "$T/fifo" "$T/sock" /dev/null "$T"; do
	for t in imginfo imgcheck imgmap; do
		expect "$t on $f" 1 timeout 1 "$BIN/$t" "$f"
	done
	expect "imgrepair on $f" 1 timeout 1 "$BIN/imgrepair" -r all \
	    --in-place "$f"
done
# A FIFO named as a backing file or a checksum file does not hang either.
qemu-img create -q -f qcow2 -u -b fifo -F raw "$T/over.qcow2" 64M
expect "qcow2 with a FIFO backing file" 1 timeout 2 "$BIN/imgcheck" \
    "$T/over.qcow2"
cp "$T/s.data" "$T/f.data"
mkfifo "$T/f.data.chksum"
n=$((n + 1))
timeout 2 "$BIN/imgcheck" "$T/f.data" >/dev/null 2>&1
[ $? -eq 124 ] && bad "a FIFO .chksum file hangs imgcheck"

# A block device is read with its real size (BLKGETSIZE64): through a
# loop device where this machine lets us make one (root, /dev/loop*).
qemu-img create -q -f qcow2 "$T/bd.qcow2" 64M
truncate -s 1M "$T/bd.qcow2"
if loop=$(losetup -f --show "$T/bd.qcow2" 2>/dev/null); then
	expect "check of a block device" 0 "$BIN/imgcheck" "$loop"
	expect "info of a block device" 0 "$BIN/imginfo" --output=json "$loop"
	grep -q '"virtual-size": 67108864' "$T/out" ||
	    bad "info of a block device: no virtual size"
	losetup -d "$loop"
else
	echo "safety: note: no loop device here (not root?); block devices untested"
fi

# ---- QEMU's locks -----------------------------------------------------------
qemu-img create -q -f qed "$T/l.qed" 64M
cp "$T/l.qed" "$T/l.orig"
qemu-io -f qed -c 'sleep 3000' "$T/l.qed" &
qpid=$!
sleep 0.7
expect "in-place repair of an image QEMU writes" 1 "$BIN/imgrepair" \
    -r all --in-place "$T/l.qed"
grep -q 'lock' "$T/err" || bad "the lock refusal does not say why"
expect "check of an image QEMU writes" 1 "$BIN/imgcheck" "$T/l.qed"
expect "check -U of an image QEMU writes" 0 "$BIN/imgcheck" -U "$T/l.qed"
expect "-U with --in-place" 1 "$BIN/imgrepair" -U -r all --in-place \
    "$T/l.qed"
wait $qpid
ls "$T"/l.qed.undo-* >/dev/null 2>&1 && bad "a refused repair left an undo file"
expect "in-place repair once QEMU is gone" 0 "$BIN/imgrepair" -r all \
    --in-place --no-undo "$T/l.qed"

# ---- SIGKILL at every write ------------------------------------------------
# killrun IMAGE ORIG UNDO ARGS...: kill the Nth pwrite of the repair, for
# N = 1, 2, ... until the repair runs to its end; after each, the undo file
# (when there is one) must put back the original bit for bit, and an
# apply killed at any write must finish when run again.
killrun() {
	img=$1 orig=$2 u=$3
	shift 3
	k=1
	while [ $k -lt 200 ]; do
		cp "$orig" "$img"
		rm -f "$u" "$u".tmp*
		strace -o /dev/null -e inject=pwrite64:signal=SIGKILL:when=$k \
		    "$BIN/imgrepair" -q "$@" --in-place --undo "$u" "$img" \
		    >/dev/null 2>&1
		rc=$?
		n=$((n + 1))
		# The undo file is made whole before it has a name.
		for x in "$u".tmp*; do
			[ -e "$x" ] &&
			    bad "$img: kill at write $k: left $(basename "$x")"
		done
		if [ -e "$u" ]; then
			cp "$img" "$T/k.repaired"
			cp "$u" "$T/k.undo"
			"$BIN/imgrepair" -q --apply-undo="$u" "$img" ||
			    bad "$img: kill at write $k: apply refused"
		fi
		cmp -s "$img" "$orig" ||
		    bad "$img: kill at write $k: not restored"
		# The apply itself, killed at its first few writes.
		if [ -e "$T/k.undo" ]; then
			j=1
			while [ $j -le 3 ]; do
				cp "$T/k.repaired" "$img"
				cp "$T/k.undo" "$u"
				strace -o /dev/null -e \
				    inject=pwrite64:signal=SIGKILL:when=$j \
				    "$BIN/imgrepair" -q --apply-undo="$u" \
				    "$img" >/dev/null 2>&1
				arc=$?
				[ $arc -eq 137 ] && { "$BIN/imgrepair" -q \
				    --apply-undo="$u" "$img" || bad "$img: " \
				    "apply killed at $j: rerun refused"; }
				n=$((n + 1))
				cmp -s "$img" "$orig" ||
				    bad "$img: apply killed at $j: not restored"
				j=$((j + 1))
			done
			rm -f "$T/k.undo"
		fi
		[ $rc -ne 137 ] && break
		k=$((k + 1))
	done
	[ $k -ge 3 ] || bad "$img: the repair wrote fewer than 3 times"
}
killrun "$T/a.qed" "$T/a.orig" "$T/a.undo" -r all
# Killed as the finished undo file is synced or given its name (linkat
# from O_TMPFILE, or link where the file system cannot): no undo file, no
# temporary one, the image untouched.
kills=0
for call in fsync linkat link; do
	cp "$T/a.orig" "$T/a.qed"
	rm -f "$T/a.undo"
	strace -o /dev/null -e inject=$call:signal=SIGKILL:when=1 \
	    "$BIN/imgrepair" -q -r all --in-place --undo "$T/a.undo" \
	    "$T/a.qed" >/dev/null 2>&1
	[ $? -eq 137 ] || continue	# this way was not taken here
	kills=$((kills + 1))
	n=$((n + 1))
	cmp -s "$T/a.qed" "$T/a.orig" ||
	    bad "kill at the undo file's $call: the image changed"
	n=$((n + 1))
	ls "$T"/a.undo* >/dev/null 2>&1 &&
	    bad "kill at the undo file's $call: left $(cd "$T" && ls a.undo*)"
done
n=$((n + 1))
[ $kills -ge 2 ] || bad "the undo file was made without fsync and a link"
for d in cut stale half-append; do
	killrun "$T/$d.ar7" "$T/$d.orig" "$T/$d.undo" -r all --key-hex $KEY
done

# ---- undo files that do not fit ------------------------------------------------
cp "$T/a.orig" "$T/a.qed"
rm -f "$T/u"
expect "repair for the undo tests" 0 "$BIN/imgrepair" -r all --in-place \
    --undo "$T/u" "$T/a.qed"
cp "$T/a.qed" "$T/a.repaired"
# Another image of the same kind, broken the same way, data different.
qed_broken "$T/b.qed"
qemu-io -f qed -c 'write -P 0x55 0 64k' "$T/b.qed" >/dev/null 2>&1
"$BIN/imgrepair" -q -r all --in-place --no-undo "$T/b.qed"
cp "$T/b.qed" "$T/b.orig"
expect "undo on another image" 1 "$BIN/imgrepair" --apply-undo="$T/u" \
    "$T/b.qed"
same "undo on another image" "$T/b.qed" "$T/b.orig"
usize=$(wc -c <"$T/u")
for pos in 0 9 17 40 70 100 150 $((usize / 2)) $((usize - 1)); do
	cp "$T/u" "$T/uf"
	b=$(od -An -tu1 -j "$pos" -N1 "$T/uf" | tr -d ' ')
	printf "$(printf '\\%03o' $(( (b + 1) % 256 )))" |
	    dd of="$T/uf" bs=1 seek="$pos" conv=notrunc 2>/dev/null
	expect "undo with byte $pos changed" 1 "$BIN/imgrepair" \
	    --apply-undo="$T/uf" "$T/a.qed"
	same "undo with byte $pos changed" "$T/a.qed" "$T/a.repaired"
done
expect "undo applied" 0 "$BIN/imgrepair" --apply-undo="$T/u" "$T/a.qed"
same "undo applied" "$T/a.qed" "$T/a.orig"
expect "undo applied twice" 1 "$BIN/imgrepair" --apply-undo="$T/u" \
    "$T/a.qed"
same "undo applied twice" "$T/a.qed" "$T/a.orig"

# ---- forced formats ---------------------------------------------------------
expect "archive as a stream: info" 1 "$BIN/imginfo" -f sparsestream \
    "$T/cut.orig"
expect "archive as a stream: map" 1 "$BIN/imgmap" -f sparsestream \
    "$T/cut.orig"
expect "archive as a stream: salvage" 1 "$BIN/imgrepair" -r all \
    -f sparsestream -o "$T/salv.data" "$T/cut.orig"
[ -e "$T/salv.data" ] && bad "a refused salvage left an output"
expect "stream in place" 1 "$BIN/imgrepair" -r all --in-place \
    "$T/s.data"
grep -q "Found and repaired" "$T/out" && bad "stream in place: claimed a repair"
same "stream in place" "$T/s.data" "$T/s.orig"

# ---- signals ------------------------------------------------------------------
"$MK/a7_mk" --big 256 "$T/big.ar7" >/dev/null 2>&1 ||
    bad "a7_mk --big failed"
for sig in INT TERM; do
	"$BIN/imgcheck" --key-hex $KEY "$T/big.ar7" >/dev/null 2>"$T/err" &
	pid=$!
	sleep 0.3
	kill -$sig $pid
	t0=$(date +%s%N)
	wait $pid
	rc=$?
	t1=$(date +%s%N)
	n=$((n + 1))
	[ $(( (t1 - t0) / 1000000 )) -lt 1000 ] ||
	    bad "SIG$sig took $(( (t1 - t0) / 1000000 )) ms"
	case "$sig:$rc" in
	INT:130|TERM:143) ;;
	*) bad "SIG$sig during a check: exit $rc" ;;
	esac
	grep -q interrupted "$T/err" || bad "SIG$sig: no message"
done

# ---- access times -------------------------------------------------------------
# Reading an image leaves its access time as it was (O_NOATIME; we own
# these files): an image of evidence keeps its timestamps.  A plain read
# of the same file, on this file system, does move it: the control.
qemu-img create -q -f qcow2 "$T/at.qcow2" 64M &&
    qemu-io -c "write 0 1M" "$T/at.qcow2" >/dev/null || bad "atime: no image"
"$MK/sparse_mk" std "$T/at.stream" >/dev/null 2>&1 || bad "atime: no stream"
for t in "imgcheck:at.qcow2" "imginfo:at.qcow2" "imgmap:at.qcow2" \
    "imgcheck:at.stream"; do
	tool=${t%%:*} f=$T/${t#*:}
	touch -a -d 2000-01-01 "$f"
	before=$(stat -c %X "$f")
	"$BIN/$tool" "$f" >/dev/null 2>&1
	n=$((n + 1))
	[ "$(stat -c %X "$f")" = "$before" ] ||
	    bad "atime: $tool moved the access time of ${t#*:}"
done
cat "$T/at.qcow2" >/dev/null
n=$((n + 1))
[ "$(stat -c %X "$T/at.qcow2")" != "$before" ] ||
    bad "atime: a plain read did not move it either (no control)"

echo "safety: $((n - fail))/$n passed"
[ "$fail" -eq 0 ]
