#!/bin/sh
# SPDX-License-Identifier: MIT
# qed.sh --- differential test: imgcheck against qemu-img check on QED.
#
# Builds QED images with qemu-img create -f qed and qemu-io writes, damages
# them with byte pokes, and requires imgcheck --output=json to give the
# same exit code and the same counters as qemu-img check --output=json.
# Skips (exit 0) with a message when qemu-img, qemu-io or python3 is absent.
# V=1 prints each case's exit codes.
B=${B:-build}
IMGCHECK=${IMGCHECK:-$B/bin/imgcheck}
IMGMAP=${IMGMAP:-$B/bin/imgmap}
IMGREPAIR=${IMGREPAIR:-$B/bin/imgrepair}
for t in qemu-img qemu-io python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "qed.sh: SKIP: $t not found"
		exit 0
	fi
done
if [ ! -x "$IMGCHECK" ]; then
	echo "qed.sh: FAIL: $IMGCHECK not built" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/qedsh.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

# poke.py FILE EXPR-OPS: each op is "le64 OFF VAL", "le32 OFF VAL",
# "or64 OFF VAL" or "grow NCLUSTERS"; OFF and VAL are Python expressions
# over cs, ts, l1off (header fields), l1(i), l2(i, j), l2off(i, j), eof.
cat > "$T/poke.py" <<'PY'
import os, struct, sys
path = sys.argv[1]
ops = sys.argv[2:]
with open(path, "r+b") as f:
    def u32(o):
        f.seek(o); return struct.unpack("<I", f.read(4))[0]
    def u64(o):
        f.seek(o); return struct.unpack("<Q", f.read(8))[0]
    cs, ts, l1off = u32(4), u32(8), u64(40)
    def l1(i): return u64(l1off + 8 * i)
    def l2off(i, j): return l1(i) + 8 * j
    def l2(i, j): return u64(l2off(i, j))
    env = dict(cs=cs, ts=ts, l1off=l1off, l1=l1, l2=l2, l2off=l2off)
    while ops:
        op = ops.pop(0)
        env["eof"] = os.fstat(f.fileno()).st_size
        if op == "grow":
            n = eval(ops.pop(0), env)
            f.truncate(env["eof"] + n * cs)
            continue
        off = eval(ops.pop(0), env)
        val = eval(ops.pop(0), env)
        if op == "or64":
            val |= u64(off)
        f.seek(off)
        f.write(struct.pack("<I" if op == "le32" else "<Q", val))
PY

# cmp.py NAME: compare qemu's and our exit codes and counters.
cat > "$T/cmp.py" <<'PY'
import json, sys
name, qrc, orc, qout, oout = sys.argv[1:6]
KEYS = ("check-errors", "corruptions", "leaks", "total-clusters",
        "allocated-clusters", "fragmented-clusters", "compressed-clusters",
        "image-end-offset")
bad = []
if qrc != orc:
    bad.append("exit %s, qemu %s" % (orc, qrc))
try:
    q = json.load(open(qout))
except ValueError:
    q = None
if q is not None:
    try:
        o = json.load(open(oout))
    except ValueError:
        o = {}
        bad.append("our output is not JSON")
    for k in KEYS:
        if o.get(k, 0) != q.get(k, 0):
            bad.append("%s %s, qemu %s" % (k, o.get(k, 0), q.get(k, 0)))
if bad:
    print("qed.sh: %s: %s" % (name, "; ".join(bad)))
    sys.exit(1)
PY

# mapcmp.py NAME QEMU OURS: the same runs with the same qemu keys.
cat > "$T/mapcmp.py" <<'PY'
import json, sys
name, qf, of = sys.argv[1:4]
KEYS = ("start", "length", "depth", "present", "zero", "data", "offset")
q = [tuple(e.get(k) for k in KEYS) for e in json.load(open(qf))]
try:
    o = [tuple(e.get(k) for k in KEYS) for e in json.load(open(of))]
except ValueError:
    o = None
if o != q:
    print("qed.sh: map %s: %s, qemu %s" % (name, o, q))
    sys.exit(1)
PY

n=0
fail=0

# base NAME [SIZE [OPTS [WRITE...]]]: a QED image with writes.
base() {
	f="$T/$1.qed"
	size=64M
	opts=
	[ $# -ge 2 ] && size=$2
	[ $# -ge 3 ] && opts=$3
	qemu-img create -q -f qed ${opts:+-o "$opts"} "$f" "$size" || return 1
	if [ $# -gt 3 ]; then
		shift 3
	else
		set -- "write -P 0x11 0 64k"
	fi
	for w in "$@"; do
		qemu-io -f qed -c "$w" "$f" >/dev/null || return 1
	done
}

poke() {
	f="$T/$1.qed"
	shift
	python3 "$T/poke.py" "$f" "$@"
}

# run NAME: compare the two checks on $T/NAME.qed.
run() {
	f="$T/$1.qed"
	n=$((n + 1))
	qemu-img check -f qed --output=json "$f" >"$T/q.json" 2>/dev/null
	qrc=$?
	"$IMGCHECK" --output=json "$f" >"$T/o.json" 2>"$T/o.err"
	orc=$?
	if [ "$orc" -gt 3 ]; then
		echo "qed.sh: $1: imgcheck exit $orc: $(cat "$T/o.err")"
		fail=$((fail + 1))
		return
	fi
	[ -n "${V:-}" ] && echo "qed.sh: $1: qemu exit $qrc," \
	    "imgcheck exit $orc"
	python3 "$T/cmp.py" "$1" "$qrc" "$orc" "$T/q.json" "$T/o.json" ||
	    fail=$((fail + 1))
}

# runmap NAME: compare imgmap with qemu-img map on $T/NAME.qed.
runmap() {
	[ -x "$IMGMAP" ] || return 0
	n=$((n + 1))
	qemu-img map -f qed --output=json "$T/$1.qed" >"$T/qm.json" ||
	    { fail=$((fail + 1)); return; }
	"$IMGMAP" --output=json "$T/$1.qed" >"$T/om.json" 2>"$T/o.err"
	python3 "$T/mapcmp.py" "$1" "$T/qm.json" "$T/om.json" ||
	    fail=$((fail + 1))
}

# runrep NAME: qemu-img check -r all on one copy, imgrepair -r all -o
# into another; the images after must check the same, with the same
# NEED_CHECK bit.  One deliberate difference: QEMU's close clears
# NEED_CHECK even when corruption remains; we keep it set then, since
# the tables are known to be inconsistent.
runrep() {
	[ -x "$IMGREPAIR" ] || return 0
	n=$((n + 1))
	cp "$T/$1.qed" "$T/$1.q.qed"
	qemu-img check -f qed -r all --output=json "$T/$1.q.qed" \
	    >/dev/null 2>&1
	qemu-img check -f qed --output=json "$T/$1.q.qed" >"$T/q.json" \
	    2>/dev/null
	qrc=$?
	rm -f "$T/$1.o.qed"
	"$IMGREPAIR" -r all -o "$T/$1.o.qed" --output=json "$T/$1.qed" \
	    >"$T/o.json" 2>"$T/o.err"
	orc=$?
	[ -n "${V:-}" ] && echo "qed.sh: repair $1: qemu exit $qrc," \
	    "imgrepair exit $orc"
	python3 "$T/cmp.py" "repair $1" "$qrc" "$orc" "$T/q.json" \
	    "$T/o.json" || { fail=$((fail + 1)); return; }
	[ "$qrc" -eq 2 ] && return
	python3 - "$1" "$T/$1.q.qed" "$T/$1.o.qed" <<'PY' || fail=$((fail + 1))
import sys
def feat(p):
    with open(p, "rb") as f:
        f.seek(16)
        return int.from_bytes(f.read(8), "little")
q, o = feat(sys.argv[2]), feat(sys.argv[3])
if q != o:
    print("qed.sh: repair %s: features 0x%x, qemu 0x%x" % (sys.argv[1], o, q))
    sys.exit(1)
PY
}

W2="write -P 0x22 1M 64k"

base clean 64M "" "write -P 0x11 0 64k" "$W2" && run clean
base zero_cluster 64M "" "write -P 0x11 0 64k" "write -z 64k 64k" &&
    run zero_cluster
base need_check && poke need_check or64 16 2 && run need_check
base need_check_leak && poke need_check_leak grow 2 or64 16 2 &&
    run need_check_leak
base l1_past_eof && poke l1_past_eof le64 'l1off + 8' 0x40000000 &&
    run l1_past_eof
base l1_misaligned && poke l1_misaligned le64 l1off 'l1(0) + 0x200' &&
    run l1_misaligned
base l1_truncated_l2 && poke l1_truncated_l2 le64 'l1off + 8' 'eof - cs' &&
    run l1_truncated_l2
base l1_in_header && poke l1_in_header le64 'l1off + 8' 0 \
    le64 'l1off + 16' 0x1000 && run l1_in_header
base l2_past_eof && poke l2_past_eof le64 'l2off(0, 1)' 0x40000000 &&
    run l2_past_eof
base l2_in_header && poke l2_in_header le64 'l2off(0, 1)' 0x200 &&
    run l2_in_header
base l2_misaligned &&
    poke l2_misaligned le64 'l2off(0, 1)' 'l2(0, 0) + 0x1000' &&
    run l2_misaligned
base l2_dup && poke l2_dup le64 'l2off(0, 1)' 'l2(0, 0)' && run l2_dup
base l2_shared && poke l2_shared le64 'l1off + 8' 'l1(0)' && run l2_shared
base data_into_l1 && poke data_into_l1 le64 'l2off(0, 1)' l1off &&
    run data_into_l1
base data_into_l2 4G "" "write -P 0x11 0 64k" "write -P 0x22 2G 64k" &&
    poke data_into_l2 le64 'l2off(0, 1)' 'l1(1)' && run data_into_l2
base data_into_own_l2 && poke data_into_own_l2 le64 'l2off(0, 1)' 'l1(0)' &&
    run data_into_own_l2
base orphan_l2 && poke orphan_l2 le64 l1off 0 && run orphan_l2
base file_tail && truncate -s +100 "$T/file_tail.qed" && run file_tail
base tail_4k 8M cluster_size=4096 "write -P 1 0 8k" &&
    truncate -s +3585 "$T/tail_4k.qed" && run tail_4k
base cut_4k 8M cluster_size=4096 "write -P 1 0 8k" "write -P 2 1M 4k" &&
    truncate -s -100 "$T/cut_4k.qed" && run cut_4k
base compat_bits && poke compat_bits le64 24 0xf0 le64 32 0xf0 &&
    run compat_bits
base phantom_leak 1G cluster_size=4096 "write -P 0x11 0 20M" &&
    run phantom_leak
base ts1 64M table_size=1 "write -P 0x11 0 4k" 2>/dev/null; run ts1
base ts16 64M table_size=16 "write -P 0x11 0 64k" "$W2" && run ts16
base unknown_feature && poke unknown_feature or64 16 0x10 &&
    run unknown_feature
base bad_l1_offset && poke bad_l1_offset le64 40 'l1off + 0x200' &&
    run bad_l1_offset
base cs_not_pow2 && poke cs_not_pow2 le32 4 65535 && run cs_not_pow2
base ts_zero && poke ts_zero le32 8 0 && run ts_zero
base ts_17 && poke ts_17 le32 8 17 && run ts_17
base size_odd && poke size_odd le64 48 1000 && run size_odd
base size_2e63 1G cluster_size=2M,table_size=8 "write -P 1 0 4k" &&
    poke size_2e63 le64 48 '1 << 63' && run size_2e63
base size_too_large 1G cluster_size=2M,table_size=8 "write -P 1 0 4k" &&
    poke size_too_large le64 48 '(1 << 63) - 512' && run size_too_large
base hs_huge && poke hs_huge le32 12 0xffffffff && run hs_huge
base backing_off && poke backing_off or64 16 1 le32 56 65500 le32 60 100 &&
    run backing_off
qemu-img create -q -f raw "$T/base.raw" 64M &&
    qemu-img create -q -f qed -b "$T/base.raw" -F raw "$T/backed.qed" &&
    qemu-io -f qed -c "write -P 0x33 64k 64k" "$T/backed.qed" >/dev/null &&
    run backed
rm -f "$T/base.raw" && mv "$T/backed.qed" "$T/backed_missing_base.qed" &&
    run backed_missing_base

base map_mixed 64M "" "write -P 1 0 64k" "write -P 2 64k 64k" \
    "write -z 1M 128k" "write -P 3 3M 4k" "write -P 4 2M 128k" &&
    runmap map_mixed
runmap clean
runmap zero_cluster
runmap ts16
base map_4k 8M cluster_size=4096 "write -P 1 0 1M" "write -z 4M 8k" \
    "write -P 2 7M 4k" && runmap map_4k
base map_odd 1000448 "" "write -P 1 0 1000448" && runmap map_odd
for c in clean need_check need_check_leak l1_past_eof l1_misaligned \
    l1_truncated_l2 l1_in_header l2_past_eof l2_in_header l2_misaligned \
    l2_dup l2_shared data_into_l1 data_into_l2 orphan_l2 compat_bits; do
	runrep $c
done
base nc_l2_bad && poke nc_l2_bad or64 16 2 le64 'l2off(0, 3)' 0x200 &&
    runrep nc_l2_bad
base nc_dup && poke nc_dup or64 16 2 le64 'l2off(0, 1)' 'l2(0, 0)' &&
    runrep nc_dup

if [ "$fail" -ne 0 ]; then
	echo "qed.sh: $fail of $n cases disagree with qemu-img check" >&2
	exit 1
fi
echo "qed.sh: $n cases agree with qemu-img check"
