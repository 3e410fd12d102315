#!/bin/sh
# SPDX-License-Identifier: MIT
# hostmap.sh --- imgmap --host on sparse streams and archive7 archives
# (and qcow2 and QED, whose host maps exist too): the runs tile the file
# with no gap or overlap and sum to its size, neighbours differ, the
# summary adds up, each class shows on a fixture made for it, a damaged
# frame or block carries the code imgcheck reports for it, and every code
# in a host map is one imgcheck reports.  --extract=leaked writes the
# leaked bytes at their offsets.  One python3 at the end judges the JSON.
# V=1 prints every case.  One summary line; non-zero on failure.
B=${B:-build}
BIN=$B/bin
SMK=$B/tests/bin/sparse_mk
AMK=$B/tests/bin/a7_mk
QMK=$B/tests/bin/qcow2_mk
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
BADKEY=1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100
for t in "$BIN/imgmap" "$BIN/imgcheck" "$SMK" "$AMK" "$QMK"; do
	if [ ! -x "$t" ]; then
		echo "hostmap.sh: FAIL: $t not built" >&2
		exit 1
	fi
done
if ! command -v python3 >/dev/null 2>&1; then
	echo "hostmap.sh: FAIL: python3 not found (make deps)" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/hostmapsh.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
TO="timeout 60"
command -v timeout >/dev/null 2>&1 || TO=
M=$T/manifest
: > "$M"
n=0
bad=0
fail() {
	n=$((n + 1))
	bad=$((bad + 1))
	echo "hostmap.sh: FAIL $1" >&2
}

# hmap NAME FILE [OPTS...] -- [REQ...]: map FILE (host runs, summary,
# imgcheck) and list it for the judge; REQ is a class, or class:code.
hmap() {
	name=$1 file=$2
	shift 2
	opts=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts="$opts $1"
		shift
	done
	[ $# -gt 0 ] && shift
	# shellcheck disable=SC2086
	if ! $TO "$BIN/imgmap" $opts --host -j "$file" > "$T/$name.host" \
	    2> "$T/err"; then
		fail "$name: imgmap --host: $(cat "$T/err")"
		return
	fi
	# shellcheck disable=SC2086
	if ! $TO "$BIN/imgmap" $opts --host --summary -j "$file" \
	    > "$T/$name.sum" 2> "$T/err"; then
		fail "$name: imgmap --host --summary: $(cat "$T/err")"
		return
	fi
	# shellcheck disable=SC2086
	$TO "$BIN/imgcheck" $opts --max-findings 0 --output=json "$file" \
	    > "$T/$name.check" 2> /dev/null
	echo "case $name $(wc -c < "$file") $T/$name.host $T/$name.sum" \
	    "$T/$name.check $*" >> "$M"
}

# Sparse streams: every class on a fixture, every defect tiled and coded.
"$SMK" std "$T/full.data" && "$SMK" std -z "$T/lz4.data" &&
    "$SMK" std -i "$T/vda.inc.virtnbdbackup.1.data" ||
    { echo "hostmap.sh: FAIL: sparse_mk std" >&2; exit 1; }
hmap full "$T/full.data" -- meta frame-header frame-data stop
hmap lz4 "$T/lz4.data" -- meta frame-header frame-data stop trailer
hmap inc "$T/vda.inc.virtnbdbackup.1.data" -- meta frame-data stop
for d in $("$SMK" list | awk '{ print $1 }'); do
	# A file of NULs is nobody's stream: raw, which has no host map.
	[ "$d" = nuls40 ] && continue
	if ! "$SMK" defect "$d" "$T/$d.data"; then
		fail "sparse_mk defect $d"
		continue
	fi
	case $d in
	after-stop)	req=garbage:sparse-bytes-after-stop ;;
	trailer-unexpected) req=garbage:sparse-trailer-unexpected ;;
	bad-kind)	req=garbage:sparse-bad-kind ;;
	misplaced)	req=garbage:sparse-misplaced-kind ;;
	trunc-payload)	req="past-end frame-data:sparse-trunc-payload" ;;
	trunc-header)	req=garbage:sparse-trunc-header ;;
	cut20)		req=garbage:sparse-too-short ;;
	payload-crlf)	req=frame-data:sparse-payload-no-crlf ;;
	lz4-damage)	req="frame-data:sparse-lz4-damage
			    frame-header:sparse-lz4-damage" ;;
	lz4-header)	req=frame-data:sparse-lz4-header ;;
	overlap)	req=frame-header:sparse-overlap ;;
	stop-nonzero)	req=stop:sparse-stop-nonzero ;;
	datasize)	req=stop:sparse-datasize ;;
	meta-json)	req=meta:sparse-meta-json ;;
	meta-key)	req=meta:sparse-meta-key ;;
	trailer-json)	req=trailer:sparse-trailer-json ;;
	trailer-header)	req=trailer:sparse-trailer-header ;;
	*)		req= ;;
	esac
	# shellcheck disable=SC2086
	hmap "s-$d" "$T/$d.data" -- $req
done

# archive7: the classes of a clean archive, then one defect each.
for d in clean cut cycle orphan-blank stale mac half-append; do
	"$AMK" "$T/$d.ar7" "$d" ||
	    { echo "hostmap.sh: FAIL: a7_mk $d" >&2; exit 1; }
done
cp "$T/clean.ar7" "$T/tail.ar7" && printf 'xyz' >> "$T/tail.ar7"
hmap a7-clean "$T/clean.ar7" --key-hex $KEY -- meta block registry tree free
hmap a7-nokey "$T/clean.ar7" -- encrypted
hmap a7-wrongkey "$T/clean.ar7" --key-hex $BADKEY -- \
    encrypted:a7-wrong-key
hmap a7-orphan "$T/orphan-blank.ar7" --key-hex $KEY -- \
    leaked:a7-orphan-blank
hmap a7-mac "$T/mac.ar7" --key-hex $KEY -- damaged:a7-decrypt-failed \
    leaked:a7-orphan-data
hmap a7-cut "$T/cut.ar7" --key-hex $KEY -- leaked:a7-orphan-data \
    block:a7-end-mismatch
hmap a7-cycle "$T/cycle.ar7" --key-hex $KEY -- block:a7-cycle
hmap a7-stale "$T/stale.ar7" --key-hex $KEY -- tree:a7-stale-meta
hmap a7-half "$T/half-append.ar7" --key-hex $KEY -- \
    leaked:a7-half-append
hmap a7-tail "$T/tail.ar7" --key-hex $KEY -- garbage:a7-size-uneven

# qcow2 and QED: their owners test the classes; here the tiling, the
# codes against imgcheck and the extract of leaked bytes.
for k in clean leak corrupt; do
	"$QMK" "$k" "$T/$k.qcow2" ||
	    { echo "hostmap.sh: FAIL: qcow2_mk $k" >&2; exit 1; }
done
hmap q-clean "$T/clean.qcow2" -- header l1 l2 data
hmap q-leak "$T/leak.qcow2" -- leaked:qcow2-refcount-leak
hmap q-corrupt "$T/corrupt.qcow2" -- leaked
if "$BIN/imgmap" --extract=leaked -o "$T/leak.out" "$T/leak.qcow2"; then
	echo "extract $T/leak.qcow2 $T/leak.out $T/q-leak.host" >> "$M"
else
	fail "imgmap --extract=leaked"
fi
# qcow2 classes, one fixture each, built by qemu-img as users have them: a
# snapshot (its table and L1, a cluster both layers own), compressed and
# bitmap clusters, a LUKS header, and data cut off by the end of the file.
# qemu times PBKDF2 with getrusage() and, on a busy machine, may refuse
# ("Unable to get accurate CPU usage") at random: try again.
mkluks() {
	for i in 1 2 3 4 5 6 7 8; do
		qemu-img create -q -f qcow2 --object secret,id=s0,data=pw -o \
		    encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
		    "$1" 1M 2>"$T/luks.err" && return 0
		grep -q "accurate CPU usage" "$T/luks.err" || break
	done
	cat "$T/luks.err" >&2
	return 1
}
if ! command -v qemu-img >/dev/null 2>&1 ||
    ! command -v qemu-io >/dev/null 2>&1; then
	fail "qemu-img and qemu-io are needed (make deps installs them)"
elif qemu-img create -q -f qcow2 "$T/cs.qcow2" 16M &&
    qemu-io -c 'write -P 1 0 128k' "$T/cs.qcow2" >/dev/null &&
    qemu-img snapshot -c s1 "$T/cs.qcow2" &&
    qemu-io -c 'write -P 2 0 64k' -c 'write -c -P 3 1M 64k' \
    "$T/cs.qcow2" >/dev/null &&
    qemu-img bitmap --add "$T/cs.qcow2" b0 &&
    qemu-io -c 'write -P 4 2M 64k' "$T/cs.qcow2" >/dev/null &&
    qemu-img create -q -f qcow2 "$T/pe.qcow2" 16M &&
    qemu-io -c 'write -P 1 0 192k' "$T/pe.qcow2" >/dev/null &&
    truncate -s -100000 "$T/pe.qcow2" &&
    mkluks "$T/enc.qcow2"; then
	hmap q-snap "$T/cs.qcow2" -- header header-ext l1 l2 data \
	    compressed shared snapshot-table snapshot-l1 bitmap-directory \
	    bitmap-table bitmap-data refcount-table refcount-block free
	hmap q-past "$T/pe.qcow2" -- past-end:qcow2-ref-past-eof
	hmap q-luks "$T/enc.qcow2" -- crypto-header
else
	fail "qcow2 class fixtures could not be built"
fi
if command -v qemu-img >/dev/null 2>&1 &&
    command -v qemu-io >/dev/null 2>&1 &&
    qemu-img create -q -f qed "$T/a.qed" 64M 2>/dev/null &&
    qemu-io -f qed -c 'write -P 0x5a 0 64k' -c 'write -P 0x33 8M 128k' \
    "$T/a.qed" >/dev/null 2>&1; then
	hmap qed "$T/a.qed" -- header l1 l2 data
fi

# Usage: --summary needs --host; --host takes no guest range.
for args in "--summary" "--host --start-offset=4k" "--host --extract"; do
	# shellcheck disable=SC2086
	"$BIN/imgmap" $args "$T/full.data" >/dev/null 2>&1
	rc=$?
	n=$((n + 1))
	[ $rc -eq 1 ] || fail "imgmap $args: exit $rc, want 1"
done
"$BIN/imgmap" --host --summary "$T/lz4.data" > "$T/sum.txt" 2>&1
n=$((n + 1))
grep -q "^total  *$(wc -c < "$T/lz4.data") " "$T/sum.txt" ||
    fail "human summary: no total line of the file size"

python3 - "$M" > "$T/judge" <<'PY'
import json, sys

def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return e

fails, n = [], 0
def bad(name, why):
    fails.append("%s: %s" % (name, why))

for line in open(sys.argv[1]):
    w = line.split()
    if w[0] == "extract":
        n += 1
        img, out, hj = open(w[1], "rb").read(), open(w[2], "rb").read(), \
            load(w[3])
        if len(out) != len(img):
            bad("extract", "output %d bytes, image %d" % (len(out), len(img)))
            continue
        seen = False
        for r in hj:
            a, b = r["offset"], r["offset"] + r["length"]
            if r["class"] == "leaked":
                seen = True
                if out[a:b] != img[a:b]:
                    bad("extract", "leaked run at %d differs" % a)
            elif r["class"] != "free" and out[a:b].strip(b"\0"):
                bad("extract", "%s run at %d not a hole" % (r["class"], a))
        if not seen:
            bad("extract", "no leaked run to look at")
        continue
    name, size, hp, sp, cp, req = w[1], int(w[2]), w[3], w[4], w[5], w[6:]
    n += 1
    runs, summ, chk = load(hp), load(sp), load(cp)
    if not isinstance(runs, list):
        bad(name, "host map is not a JSON array: %s" % runs)
        continue
    pos, prev, past = 0, None, False
    for r in runs:
        key = (r["class"], tuple(r["owners"]), tuple(r["findings"]))
        if r["length"] <= 0:
            bad(name, "empty run at %d" % r["offset"])
        if r["class"] == "past-end":
            past = True
            if r["offset"] < size or r["offset"] < pos:
                bad(name, "past-end run at %d inside the file or out of "
                    "order" % r["offset"])
        elif past:
            bad(name, "%s run at %d after the past-end runs" %
                (r["class"], r["offset"]))
        elif r["offset"] != pos:
            bad(name, "run at %d, want %d (gap or overlap)" %
                (r["offset"], pos))
        elif prev == key and r["offset"] == pos:
            bad(name, "runs at %d not merged" % r["offset"])
        pos = r["offset"] + r["length"]
        prev = key
        if not past and pos > size:
            bad(name, "run to %d past the file size %d" % (pos, size))
    tiled = sum(r["length"] for r in runs if r["class"] != "past-end")
    if tiled != size:
        bad(name, "runs sum to %d, file has %d bytes" % (tiled, size))
    tot = {}
    for r in runs:
        t = tot.setdefault(r["class"], [0, 0])
        t[0] += r["length"]
        t[1] += 1
    if not isinstance(summ, dict):
        bad(name, "summary is not a JSON object: %s" % summ)
    else:
        got = {k: [v["bytes"], v["runs"]] for k, v in summ.items()}
        if got != tot:
            bad(name, "summary %s, runs say %s" % (got, tot))
    found = set()
    if isinstance(chk, dict):
        found = {f["code"] for f in chk.get("findings", [])}
    for r in runs:
        for c in r["findings"]:
            if c not in found:
                bad(name, "code %s at %d is not among imgcheck's %s" %
                    (c, r["offset"], sorted(found)))
    for q in req:
        cls, _, code = q.partition(":")
        hit = [r for r in runs if r["class"] == cls and
               (not code or code in r["findings"])]
        if not hit:
            bad(name, "no %s run%s" % (cls, " with " + code if code else ""))
print(n)
for f in fails:
    print("FAIL " + f)
PY
judged=$(head -n 1 "$T/judge")
n=$((n + ${judged:-0}))
if grep -q '^FAIL' "$T/judge" || [ -z "$judged" ]; then
	grep '^FAIL' "$T/judge" | sed 's/^/hostmap.sh: /' >&2
	[ -n "$judged" ] || echo "hostmap.sh: FAIL: the judge did not run" >&2
	bad=$((bad + $(grep -c '^FAIL' "$T/judge")))
	[ -n "$judged" ] || bad=$((bad + 1))
fi
[ -z "$V" ] || cat "$M"
if [ $bad -ne 0 ]; then
	echo "hostmap.sh: $bad of $n checks failed" >&2
	exit 1
fi
echo "hostmap: $n checks passed"
