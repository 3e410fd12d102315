#!/bin/sh
# SPDX-License-Identifier: MIT
# raw.sh --- differential test: raw files (and raw backing files) against
# qemu-img.
#
# Builds raw files with holes (truncate, dd with seek, fallocate
# --punch-hole), odd lengths and a leading hole, and qcow2 and QED images
# over raw backing files, then requires: imgmap --output=json and the
# human table equal to qemu-img map's (every qemu key, same values),
# imginfo --output=json to hold every key of qemu-img info --output=json
# with qemu's value, imgcheck to exit 63 with qemu's words as qemu-img
# check does, imgrepair to refuse, and imgmap --extract (to a file and
# to a pipe) to equal qemu-img convert -O raw and the input itself.
# Missing qemu-img or python3 is a failure, never a silent pass.  All
# JSON is compared by one python3 process at the end.  V=1 says more.
B=${B:-build}
BIN=$B/bin
for t in qemu-img qemu-io python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "raw.sh: FAIL: $t not found (needed to compare)" >&2
		exit 1
	fi
done
for t in imginfo imgcheck imgmap imgrepair; do
	if [ ! -x "$BIN/$t" ]; then
		echo "raw.sh: FAIL: $BIN/$t not built" >&2
		exit 1
	fi
done
BINA=$(cd "$BIN" && pwd) || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/rawsh.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

n=0
fail=0
: > "$T/cases"

bad() {
	echo "raw.sh: $*" >&2
	fail=$((fail + 1))
}

# mapcase NAME FILE [QEMU-FORMAT-OPTS [MAP-OPTS]]: queue imgmap and
# qemu-img map (JSON and human) of FILE for the comparison at the end.
mapcase() {
	name=$1
	f=$2
	qf=${3:-}
	mo=${4:-}
	# The human table names files as given: run both from $T.
	( cd "$T" &&
	    qemu-img map $qf $mo --output=json "$f" > "$name.qmap" &&
	    qemu-img map $qf $mo "$f" > "$name.qhmap" ) 2>"$T/$name.qerr" ||
	    { bad "$name: qemu-img map failed: $(cat "$T/$name.qerr")";
	    return; }
	( cd "$T" &&
	    "$BINA/imgmap" $qf $mo --output=json "$f" > "$name.omap" &&
	    "$BINA/imgmap" $qf $mo "$f" > "$name.ohmap" ) \
	    2>"$T/$name.oerr" ||
	    { bad "$name: imgmap failed: $(cat "$T/$name.oerr")"; return; }
	echo "map $name" >> "$T/cases"
}

# infocase NAME FILE: queue imginfo and qemu-img info -f raw.
infocase() {
	( cd "$T" && qemu-img info -f raw --output=json "$2" > "$1.qinfo" ) ||
	    { bad "$1: qemu-img info failed"; return; }
	( cd "$T" && "$BINA/imginfo" --output=json "$2" > \
	    "$1.oinfo" ) || { bad "$1: imginfo failed"; return; }
	echo "info $1" >> "$T/cases"
}

# checkcase NAME FILE: imgcheck exits 63 with qemu's line, as qemu does.
checkcase() {
	n=$((n + 1))
	qemu-img check -f raw "$2" > /dev/null 2>"$T/qc.err"
	qrc=$?
	"$BIN/imgcheck" "$2" > "$T/oc.out" 2>"$T/oc.err"
	orc=$?
	if [ "$qrc" != 63 ] || [ "$orc" != "$qrc" ]; then
		bad "$1: imgcheck exit $orc, qemu-img check $qrc"
	elif [ "$(sed 's/^[a-z-]*: //' "$T/oc.err")" != \
	    "$(sed 's/^[a-z-]*: //' "$T/qc.err")" ]; then
		bad "$1: imgcheck says '$(cat "$T/oc.err")', qemu" \
		    "'$(cat "$T/qc.err")'"
	elif [ -s "$T/oc.out" ]; then
		bad "$1: imgcheck printed on stdout"
	fi
	"$BIN/imgcheck" --output=json "$2" > "$T/oc.out" 2>/dev/null
	orc=$?
	[ "$orc" = 63 ] && [ ! -s "$T/oc.out" ] ||
	    bad "$1: imgcheck --output=json exit $orc or output"
}

# extractcase NAME FILE [PLAIN]: imgmap --extract to a file and to a
# pipe equals qemu-img convert -O raw; PLAIN: and the file itself (to
# its 512-byte rounded length, the tail zeros).
extractcase() {
	n=$((n + 1))
	rm -f "$T/x.out" "$T/x.conv" "$T/x.pipe"
	if ! "$BIN/imgmap" --extract -o "$T/x.out" "$2" 2>"$T/x.err"; then
		bad "$1: extract failed: $(cat "$T/x.err")"
		return
	fi
	qemu-img convert -O raw "$2" "$T/x.conv" ||
	    { bad "$1: qemu-img convert failed"; return; }
	cmp -s "$T/x.out" "$T/x.conv" ||
	    bad "$1: extract differs from qemu-img convert"
	"$BIN/imgmap" --extract "$2" 2>/dev/null | cat > "$T/x.pipe"
	cmp -s "$T/x.pipe" "$T/x.conv" ||
	    bad "$1: extract to a pipe differs from qemu-img convert"
	if [ -n "${3:-}" ]; then
		sz=$(wc -c < "$2")
		cmp -s -n "$sz" "$T/x.out" "$2" ||
		    bad "$1: extract differs from the file"
		want=$(( (sz + 511) / 512 * 512 ))
		[ "$(wc -c < "$T/x.out")" = "$want" ] ||
		    bad "$1: extract is $(wc -c < "$T/x.out") bytes, want $want"
		[ "$(tail -c +$((sz + 1)) "$T/x.out" | tr -d '\0' | wc -c)" \
		    = 0 ] || bad "$1: the tail past the file is not zeros"
	fi
}

# rawcase NAME: every comparison on $T/NAME.
rawcase() {
	mapcase "$1" "$1" "-f raw"
	infocase "$1" "$1"
	checkcase "$1" "$T/$1"
	extractcase "$1" "$T/$1" plain
}

rnd() {
	dd if=/dev/urandom of="$T/$1" bs="$2" count="$3" seek="${4:-0}" \
	    conv=notrunc 2>/dev/null
}

# ---- raw files ---------------------------------------------------------
printf 'hello' > "$T/five"
rawcase five
rnd odd1000 1000 1
rawcase odd1000
truncate -s 1000 "$T/hole1000"
rawcase hole1000
# The first 4 KiB a hole: QEMU 7.2 maps it as zero like any other.
truncate -s 64K "$T/lead4k"
rnd lead4k 4096 1 1
rawcase lead4k
truncate -s 64K "$T/sector1"
rnd sector1 512 1 1
rawcase sector1
rnd punch 64K 4
fallocate --punch-hole -o 0 -l 4096 "$T/punch" &&
    fallocate --punch-hole -o 65536 -l 8192 "$T/punch" &&
    fallocate --punch-hole -o 200K -l 56K "$T/punch" ||
    bad "punch: fallocate --punch-hole failed"
rawcase punch
truncate -s $((1048576 + 100)) "$T/tail_odd"
rnd tail_odd 1 100 1048576
rawcase tail_odd
rnd full 1M 8
rawcase full
dd if=/dev/zero of="$T/zeros" bs=64K count=4 2>/dev/null
rawcase zeros
truncate -s 4M "$T/striped"
for i in 0 2 3 5 8 13 21 34 55 60 63; do
	rnd striped 64K 1 "$i"
done
rawcase striped
# Fallocated (unwritten) extents: ext4 counts their pages in the page
# cache as data, so the map depends on what was read before it; we read
# what QEMU reads (nothing for -f raw, 2 KiB to probe), so fresh files
# map alike both ways.
fallocate -l 1M "$T/falloc" 2>/dev/null || truncate -s 1M "$T/falloc"
rnd falloc 4K 1 100
fallocate -l 1M "$T/falloc_probed" 2>/dev/null ||
    truncate -s 1M "$T/falloc_probed"
rnd falloc_probed 4K 1 100
mapcase falloc_probed falloc_probed
rawcase falloc
truncate -s 4G "$T/sparse4g"
rnd sparse4g 1M 1 1024
rnd sparse4g 4K 1 1048575
mapcase sparse4g sparse4g "-f raw"
infocase sparse4g sparse4g
checkcase sparse4g "$T/sparse4g"
# Ranges (--start-offset, --max-length) cut the same runs as qemu's.
mapcase striped_range striped "-f raw" "--start-offset=100000 --max-length=1000000"
mapcase punch_range punch "-f raw" "--start-offset=4095 --max-length=70000"
mapcase tail_odd_range tail_odd "-f raw" "--start-offset=1048600"
# Probed, without -f: nobody claims these, they are raw.
mapcase lead4k_probed lead4k
# An empty file: info, check and extract (a zero-length disk).
: > "$T/empty"
infocase empty empty
checkcase empty "$T/empty"
n=$((n + 1))
rm -f "$T/x.out"
"$BIN/imgmap" --extract -o "$T/x.out" "$T/empty" 2>/dev/null &&
    [ -f "$T/x.out" ] && [ ! -s "$T/x.out" ] ||
    bad "empty: extract is not an empty file"

# A sparse extract stays sparse.
n=$((n + 1))
truncate -s 256M "$T/sparse256m"
rnd sparse256m 64K 1 2000
rm -f "$T/x.out"
"$BIN/imgmap" --extract -o "$T/x.out" "$T/sparse256m" &&
    cmp -s "$T/x.out" "$T/sparse256m" &&
    [ "$(stat -c %b "$T/x.out")" -le 1024 ] ||
    bad "sparse256m: extract differs or is not sparse" \
	"($(stat -c %b "$T/x.out" 2>/dev/null) blocks)"

# imgrepair has nothing to repair in a raw file and refuses.
n=$((n + 1))
rm -f "$T/r.out"
"$BIN/imgrepair" -r all -o "$T/r.out" "$T/punch" >/dev/null 2>&1
rc=$?
[ "$rc" != 0 ] && [ ! -e "$T/r.out" ] ||
    bad "imgrepair on raw: exit $rc, or it wrote its output"

# ---- raw backing files -------------------------------------------------
# qcow2 over a raw file with holes: holes at depth 1 are zero, the rest
# past the backing file's end zero at depth 0.
qemu-img create -q -f qcow2 -b striped -F raw "$T/over.qcow2" 8M &&
    qemu-io -f qcow2 -c "write -P 7 64k 64k" -c "write -z 1M 64k" \
	-c "write -P 9 5M 4k" "$T/over.qcow2" > /dev/null ||
    bad "over.qcow2: not built"
mapcase over_qcow2 over.qcow2
extractcase over_qcow2 "$T/over.qcow2"
# Its backing file of odd length: the partial sector reads as zeros.
qemu-img create -q -f qcow2 -b odd1000 -F raw "$T/odd.qcow2" 64K &&
    qemu-io -f qcow2 -c "write -P 3 512 512" "$T/odd.qcow2" > /dev/null ||
    bad "odd.qcow2: not built"
mapcase odd_qcow2 odd.qcow2
extractcase odd_qcow2 "$T/odd.qcow2"
# QED over the leading-hole file.
qemu-img create -q -f qed -b lead4k -F raw "$T/over.qed" 1M &&
    qemu-io -f qed -c "write -P 5 32k 8k" "$T/over.qed" > /dev/null ||
    bad "over.qed: not built"
mapcase over_qed over.qed
extractcase over_qed "$T/over.qed"
# Two layers over raw, and the top alone (--no-backing has no qemu-img
# map twin: qemu-img map -f qcow2 with backing.file.driver=null is not
# comparable, so the chain is the case).
qemu-img create -q -f qcow2 -b over.qcow2 -F qcow2 "$T/top.qcow2" 8M &&
    qemu-io -f qcow2 -c "write -P 1 0 4k" -c "write -P 2 3M 128k" \
	"$T/top.qcow2" > /dev/null || bad "top.qcow2: not built"
mapcase top_qcow2 top.qcow2
extractcase top_qcow2 "$T/top.qcow2"

# ---- the comparisons ---------------------------------------------------
python3 - "$T" "$n" "$fail" "${V:-}" <<'PY'
import json, os, sys

d, n, fail, verbose = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4]
KEYS = ("start", "length", "depth", "present", "zero", "data", "offset")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return e


def bad(msg):
    global fail
    print("raw.sh: " + msg, file=sys.stderr)
    fail += 1


def human(path):
    with open(path) as f:
        return [ln.split() for ln in f if ln.strip()]


for line in open(os.path.join(d, "cases")):
    kind, name = line.split()
    p = os.path.join(d, name)
    n += 1
    if kind == "map":
        q, o = load(p + ".qmap"), load(p + ".omap")
        if not isinstance(o, list):
            bad("map %s: imgmap output is not a JSON list: %s" % (name, o))
            continue
        qe = [tuple((k, e[k]) for k in KEYS if k in e) for e in q]
        oe = [tuple((k, e[k]) for k in KEYS if k in e) for e in o]
        if qe != oe:
            bad("map %s: %d runs, qemu %d" % (name, len(oe), len(qe)))
            for i in range(max(len(qe), len(oe))):
                a = qe[i] if i < len(qe) else None
                b = oe[i] if i < len(oe) else None
                if a != b:
                    print("  first difference: ours %s, qemu %s" %
                          (b, a), file=sys.stderr)
                    break
        n += 1
        if human(p + ".qhmap") != human(p + ".ohmap"):
            bad("map %s: human table differs from qemu-img map's" % name)
            if verbose:
                print(open(p + ".qhmap").read() + "--\n" +
                      open(p + ".ohmap").read(), file=sys.stderr)
    elif kind == "info":
        q, o = load(p + ".qinfo"), load(p + ".oinfo")
        if not isinstance(o, dict):
            bad("info %s: imginfo output is not a JSON object: %s" %
                (name, o))
            continue
        for k, v in q.items():
            if k not in o:
                bad("info %s: key %r missing (qemu: %r)" % (name, k, v))
            elif o[k] != v:
                bad("info %s: %r is %r, qemu %r" % (name, k, o[k], v))
if fail:
    print("raw.sh: %d of %d checks disagree with qemu-img" % (fail, n),
          file=sys.stderr)
    sys.exit(1)
print("raw.sh: %d checks agree with qemu-img" % n)
PY
