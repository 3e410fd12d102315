#!/bin/sh
# SPDX-License-Identifier: MIT
# info_human.sh --- human imginfo output starts with exactly what
# qemu-img info prints (sizes in words and bytes, backing file, the
# snapshot table with its dates, "Format specific information"), for
# qcow2 with a backing file, snapshots and bitmaps, LUKS, QED and raw;
# the other formats open with the same first lines.
B=${B:-build}
INFO=$B/bin/imginfo
fail=0
bad() { echo "info_human: FAIL: $*"; fail=$((fail + 1)); }
for t in qemu-img qemu-io; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "info_human: FAIL: $t not found (make deps)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/infohuman.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
export TZ=UTC
cd "$T" || exit 1
qemu-img create -q -f qcow2 base.qcow2 64M &&
    qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 64M &&
    qemu-io -c 'write 0 1M' top.qcow2 >/dev/null &&
    qemu-img snapshot -c first top.qcow2 &&
    qemu-io -c 'write 1M 1M' top.qcow2 >/dev/null &&
    qemu-img snapshot -c a-much-longer-snapshot-name top.qcow2 &&
    qemu-img bitmap --add top.qcow2 b0 &&
    qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4096 v2.qcow2 \
    1000000 &&
    qemu-img create -q -f qed q.qed 3G &&
    qemu-io -f qed -c 'write 0 64k' q.qed >/dev/null &&
    qemu-img create -q -f raw r.raw 1536k || bad "images could not be made"
luks=
for i in 1 2 3 4 5 6 7 8; do
	if qemu-img create -q -f qcow2 --object secret,id=s0,data=pw -o \
	    encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
	    enc.qcow2 1M 2>luks.err; then
		luks=enc.qcow2
		break
	fi
	grep -q "accurate CPU usage" luks.err || break
done
[ -n "$luks" ] || bad "LUKS image: $(cat luks.err)"
n=0
for f in top.qcow2 base.qcow2 v2.qcow2 q.qed r.raw $luks; do
	n=$((n + 1))
	qemu-img info -U "$f" > "$f.q" 2>&1 || { bad "qemu-img info $f"; continue; }
	"$OLDPWD/$INFO" -U "$f" > "$f.o" 2>&1 || { bad "imginfo $f: $(cat "$f.o")"; continue; }
	lines=$(wc -l < "$f.q")
	head -n "$lines" "$f.o" | cmp -s - "$f.q" ||
	    bad "$f: the first $lines lines differ from qemu-img info:
$(head -n "$lines" "$f.o" | diff "$f.q" -)"
done
grep -q '^Snapshot list:$' top.qcow2.o || bad "top.qcow2: no snapshot table"
"$OLDPWD/$B/tests/bin/sparse_mk" std s.data &&
    "$OLDPWD/$INFO" s.data > s.o 2>&1 &&
    head -4 s.o | sed 's/: .*//' | tr '\n' ' ' | grep -qx \
    'image file format virtual size disk size ' ||
    bad "sparse stream: $(head -4 s.o)"
if [ $fail -ne 0 ]; then
	echo "info_human: $fail checks failed" >&2
	exit 1
fi
echo "info_human: $n images begin with qemu-img info's words and layout"
