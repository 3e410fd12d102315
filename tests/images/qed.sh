#!/bin/sh
# SPDX-License-Identifier: MIT
# qed.sh --- differential test: imgcheck against qemu-img check on QED.
#
# Builds QED images with qemu-img create -f qed and qemu-io writes, damages
# them with byte pokes, and requires imgcheck --output=json to give the
# same exit code and the same counters as qemu-img check --output=json.
# A missing qemu-img, qemu-io or python3 is a failure, never a skip.
# The steps are recorded as the cases are built and run afterwards in
# bulk: one python3 applies every poke, one shell loop runs the tools,
# one python3 compares everything.  V=1 prints each case's exit codes.
B=${B:-build}
IMGCHECK=${IMGCHECK:-$B/bin/imgcheck}
IMGMAP=${IMGMAP:-$B/bin/imgmap}
IMGREPAIR=${IMGREPAIR:-$B/bin/imgrepair}
for t in qemu-img qemu-io python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "qed.sh: FAIL: $t not found (make deps installs it)" >&2
		exit 1
	fi
done
if [ ! -x "$IMGCHECK" ]; then
	echo "qed.sh: FAIL: $IMGCHECK not built" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/qedsh.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
P=$T/pokes
WORKLIST=$T/worklist
: > "$P"
: > "$WORKLIST"

# poke.py POKES: each record (ending in \036) is FILE and ops separated
# by \037; each op is "le64 OFF VAL", "le32 OFF VAL", "or64 OFF VAL" or
# "grow NCLUSTERS"; OFF and VAL are Python expressions over cs, ts, l1off
# (header fields), l1(i), l2(i, j), l2off(i, j), eof.
cat > "$T/poke.py" <<'PY'
import os, struct, sys
def poke(path, ops):
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
for rec in open(sys.argv[1]).read().split("\036")[:-1]:
    path, *ops = rec.split("\037")
    poke(path, ops)
PY

# judge.py T MANIFEST: every recorded comparison, qemu's and ours.
cat > "$T/judge.py" <<'PY'
import json, os, sys
T, manifest = sys.argv[1:3]
V = os.environ.get("V")
KEYS = ("check-errors", "corruptions", "leaks", "total-clusters",
        "allocated-clusters", "fragmented-clusters", "compressed-clusters",
        "image-end-offset")
MKEYS = ("start", "length", "depth", "present", "zero", "data", "offset")
fails = 0
def rd(p):
    with open(p) as f:
        return f.read()
def load(p):
    try:
        return json.loads(rd(p))
    except ValueError:
        return None
def cmp(name, qrc, orc, q, o):
    bad = []
    if qrc != orc:
        bad.append("exit %s, qemu %s" % (orc, qrc))
    if q is not None:
        if o is None:
            o = {}
            bad.append("our output is not JSON")
        for k in KEYS:
            if o.get(k, 0) != q.get(k, 0):
                bad.append("%s %s, qemu %s" % (k, o.get(k, 0), q.get(k, 0)))
    return bad
def feat(p):
    with open(p, "rb") as f:
        f.seek(16)
        return int.from_bytes(f.read(8), "little")
n = 0
for line in open(manifest):
    i, kind, name = line.split()
    r = os.path.join(T, "res", i)
    n += 1
    bad = []
    if kind != "map":
        qrc, orc = int(rd(r + ".qrc")), int(rd(r + ".orc"))
        if V:
            print("qed.sh: %s%s: qemu exit %d, %s exit %d" % (
                "repair " if kind == "rep" else "", name, qrc,
                "imgrepair" if kind == "rep" else "imgcheck", orc))
    if kind == "run":
        if orc > 3:
            bad.append("imgcheck exit %d: %s" % (orc, rd(r + ".err")))
        else:
            bad = cmp(name, qrc, orc, load(r + ".q"), load(r + ".o"))
    elif kind == "map":
        if int(rd(r + ".qrc")) != 0:
            bad.append("qemu-img map failed")
        else:
            q = [tuple(e.get(k) for k in MKEYS) for e in load(r + ".q")]
            o = load(r + ".o")
            o = None if o is None else \
                [tuple(e.get(k) for k in MKEYS) for e in o]
            if o != q:
                bad.append("%s, qemu %s" % (o, q))
        name = "map " + name
    else:
        bad = cmp(name, qrc, orc, load(r + ".q"), load(r + ".o"))
        if not bad and qrc != 2:
            q = feat(os.path.join(T, name + ".q.qed"))
            o = feat(os.path.join(T, name + ".o.qed"))
            if q != o:
                bad.append("features 0x%x, qemu 0x%x" % (o, q))
        name = "repair " + name
    if bad:
        fails += 1
        print("qed.sh: %s: %s" % (name, "; ".join(bad)))
if fails:
    print("qed.sh: %d of %d cases disagree with qemu-img check" % (fails, n),
          file=sys.stderr)
    sys.exit(1)
print("qed.sh: %d cases agree with qemu-img check" % n)
PY

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

# poke NAME OP...: record byte pokes of $T/NAME.qed (poke.py).
poke() {
	printf '%s' "$T/$1.qed" >> "$P"
	shift
	for a in "$@"; do
		printf '\037%s' "$a" >> "$P"
	done
	printf '\036' >> "$P"
}

# run NAME: compare the two checks on $T/NAME.qed.
run() {
	echo "run $1" >> "$WORKLIST"
}

# runmap NAME: compare imgmap with qemu-img map on $T/NAME.qed.
runmap() {
	[ -x "$IMGMAP" ] && echo "map $1" >> "$WORKLIST"
	return 0
}

# runrep NAME: qemu-img check -r all on one copy, imgrepair -r all -o
# into another; the images after must check the same, with the same
# NEED_CHECK bit.  One deliberate difference: QEMU's close clears
# NEED_CHECK even when corruption remains; we keep it set then, since
# the tables are known to be inconsistent.
runrep() {
	[ -x "$IMGREPAIR" ] && echo "rep $1" >> "$WORKLIST"
	return 0
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
qemu-img create -q -f raw "$T/gone.raw" 64M &&
    qemu-img create -q -f qed -b "$T/gone.raw" -F raw \
    "$T/backed_missing_base.qed" &&
    qemu-io -f qed -c "write -P 0x33 64k 64k" "$T/backed_missing_base.qed" \
    >/dev/null && rm -f "$T/gone.raw" && run backed_missing_base

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

python3 "$T/poke.py" "$P" ||
    { echo "qed.sh: FAIL: the pokes could not be made" >&2; exit 1; }
mkdir "$T/res"
i=0
while read -r kind name; do
	i=$((i + 1))
	f=$T/$name.qed
	r=$T/res/$i
	case $kind in
	run)
		qemu-img check -f qed --output=json "$f" >"$r.q" 2>/dev/null
		echo $? > "$r.qrc"
		"$IMGCHECK" --output=json "$f" >"$r.o" 2>"$r.err"
		echo $? > "$r.orc"
		;;
	map)
		qemu-img map -f qed --output=json "$f" >"$r.q"
		echo $? > "$r.qrc"
		"$IMGMAP" --output=json "$f" >"$r.o" 2>"$r.err"
		;;
	rep)
		cp "$f" "$T/$name.q.qed"
		qemu-img check -f qed -r all --output=json "$T/$name.q.qed" \
		    >/dev/null 2>&1
		qemu-img check -f qed --output=json "$T/$name.q.qed" >"$r.q" \
		    2>/dev/null
		echo $? > "$r.qrc"
		rm -f "$T/$name.o.qed"
		"$IMGREPAIR" -r all -o "$T/$name.o.qed" --output=json "$f" \
		    >"$r.o" 2>"$r.err"
		echo $? > "$r.orc"
		;;
	esac
	echo "$i $kind $name"
done < "$WORKLIST" > "$T/manifest"
python3 "$T/judge.py" "$T" "$T/manifest"
