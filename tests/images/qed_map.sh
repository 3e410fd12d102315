#!/bin/sh
# SPDX-License-Identifier: MIT
# qed_map.sh --- differential test: imgmap and imginfo against qemu-img map
# and qemu-img info on QED images and their backing chains.
#
# Images are made with qemu-img create and qemu-io: QED alone, over a
# qcow2, over a raw file, a chain of three QED images, backing files
# shorter than the top (one not a whole number of clusters), backing
# names relative to a subdirectory and absolute, an empty backing name, a
# missing backing file, a damaged L1 entry.  For each:
#
#   map    imgmap --output=json (optionally with --start-offset and
#          --max-length) vs qemu-img map --output=json: same exit status;
#          when qemu succeeds, the same runs with qemu's keys and values.
#   fail   qemu-img map fails; imgmap must fail too (exit 1) and say why
#          on stderr with the words given (the finding, the missing file).
#   force  imgmap --force --output=json exits 0 and marks a run damaged.
#   info   imginfo --output=json vs qemu-img info --output=json: same exit
#          status, every key qemu prints with qemu's value, recursively
#          (actual-size and full-backing-filename included).
#
# Both tools run in the work directory with the same relative names, so
# "filename" and the backing names must agree verbatim.  qemu-img,
# qemu-io and python3 are required: without them the test fails.  Every
# comparison is done at the end by one python3 process.  V=1 lists them.
B=${B:-build}
IMGMAP=${IMGMAP:-$B/bin/imgmap}
IMGINFO=${IMGINFO:-$B/bin/imginfo}
for t in qemu-img qemu-io python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "qed_map.sh: FAIL: $t not found" >&2
		exit 1
	fi
done
for t in "$IMGMAP" "$IMGINFO"; do
	if [ ! -x "$t" ]; then
		echo "qed_map.sh: FAIL: $t not built" >&2
		exit 1
	fi
done
case $IMGMAP in /*) ;; *) IMGMAP=$PWD/$IMGMAP ;; esac
case $IMGINFO in /*) ;; *) IMGINFO=$PWD/$IMGINFO ;; esac
T=$(mktemp -d "${TMPDIR:-/tmp}/qedmap.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T" || exit 1
mkdir out sub
: > cases
bad=0

# die MSG: an image could not be built; the test fails.
die() {
	echo "qed_map.sh: FAIL: cannot build $1" >&2
	bad=$((bad + 1))
}

# mk FMT FILE SIZE [create options] -- [qemu-io commands...]
mk() {
	fmt=$1 f=$2 size=$3
	shift 3
	opts=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts="$opts $1"
		shift
	done
	[ $# -gt 0 ] && shift
	# shellcheck disable=SC2086
	qemu-img create -q -f "$fmt" $opts "$f" "$size" || return 1
	for w in "$@"; do
		qemu-io -f "$fmt" -c "$w" "$f" >/dev/null || return 1
	done
}

# poke FILE OFFSET BYTES: write printf-escaped BYTES at OFFSET.
poke() {
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# map NAME IMG [imgmap/qemu-img options]: record both maps.
map() {
	name=$1 img=$2
	shift 2
	qemu-img map --output=json "$@" "$img" >"out/$name.q" \
	    2>"out/$name.qerr"
	echo $? >"out/$name.qrc"
	"$IMGMAP" --output=json "$@" "$img" >"out/$name.o" 2>"out/$name.oerr"
	echo $? >"out/$name.orc"
	echo "map $name" >>cases
}

# fail NAME IMG WORDS: qemu-img map and imgmap must both fail, ours
# saying on stderr each of WORDS (separated by "|").
fail() {
	map "$1" "$2"
	echo "fail $1 $3" >>cases
}

# force NAME IMG: imgmap --force maps the damage.
force() {
	"$IMGMAP" --force --output=json "$2" >"out/$1.f" 2>"out/$1.ferr"
	echo $? >"out/$1.frc"
	echo "force $1" >>cases
}

# info NAME IMG: record both descriptions.
info() {
	qemu-img info --output=json "$2" >"out/$1.qi" 2>"out/$1.qierr"
	echo $? >"out/$1.qirc"
	"$IMGINFO" --output=json "$2" >"out/$1.oi" 2>"out/$1.oierr"
	echo $? >"out/$1.oirc"
	echo "info $1" >>cases
}

# A QED alone: data, zero clusters, holes, a partial last cluster.
mk qed plain.qed 64M -- "write -P 1 0 64k" "write -P 2 64k 64k" \
    "write -z 1M 128k" "write -P 3 3M 4k" "write -P 4 2M 128k" \
    "write -P 5 63M 1M" || die plain
map plain plain.qed
info plain plain.qed
mk qed odd.qed 1000448 -o cluster_size=4096 -- "write -P 1 0 8k" \
    "write -P 2 995328 5120" || die odd
map odd odd.qed
info odd odd.qed
mk qed need_check.qed 8M -- "write -P 1 0 64k" && \
    poke need_check.qed 16 '\002' || die need_check
map need_check need_check.qed
info need_check need_check.qed

# Over a qcow2 (the format is probed: QED keeps only "raw").
mk qcow2 base.qcow2 64M -- "write -P 0x11 0 64k" "write -P 0x12 1M 128k" \
    "write -z 2M 64k" "write -P 0x13 5M 4k" "write -P 0x14 60M 1M" ||
    die base.qcow2
mk qed over_qcow2.qed 64M -b base.qcow2 -F qcow2 -- "write -P 0x21 64k 64k" \
    "write -P 0x22 1088k 64k" "write -z 5M 64k" "write -P 0x23 8M 64k" ||
    die over_qcow2
map over_qcow2 over_qcow2.qed
map over_qcow2_range over_qcow2.qed --start-offset=1052672 \
    --max-length=5000000
map over_qcow2_tail over_qcow2.qed --start-offset=61M
info over_qcow2 over_qcow2.qed

# Over a raw file with holes (NO_PROBE: the format is "raw").
mk raw base.raw 64M -- "write -P 0x31 0 64k" "write -P 0x32 3M 1M" \
    "write -P 0x33 40M 4k" || die base.raw
mk qed over_raw.qed 64M -b base.raw -F raw -- "write -P 0x41 1M 64k" \
    "write -z 3M 64k" || die over_raw
map over_raw over_raw.qed
map over_raw_range over_raw.qed --start-offset=3000000 --max-length=2M
info over_raw over_raw.qed

# A chain of three QED images, with clusters left to every depth.
mk qed c0.qed 16M -o cluster_size=4096 -- "write -P 1 0 1M" \
    "write -P 2 8M 4k" "write -z 12M 8k" || die c0
mk qed c1.qed 16M -b c0.qed -F qed -o cluster_size=4096 -- \
    "write -P 3 512k 8k" "write -z 2M 4k" "write -P 4 9M 64k" || die c1
mk qed c2.qed 16M -b c1.qed -F qed -- "write -P 5 0 64k" \
    "write -P 6 8M 64k" "write -z 15M 64k" || die c2
map chain3 c2.qed
map chain3_range c2.qed --start-offset=520k --max-length=9M
info chain3 c2.qed
info chain3_mid c1.qed

# Backing files shorter than the top: a QED, and a raw file that ends
# inside a cluster.
mk qed short_base.qed 1M -- "write -P 1 0 64k" "write -P 2 960k 64k" ||
    die short_base
mk qed short.qed 4M -b short_base.qed -F qed -- "write -P 3 2M 64k" ||
    die short
map short short.qed
info short short.qed
mk raw short_base.raw 1000448 -- "write -P 1 900k 50k" || die short_raw
mk qed short_raw.qed 4M -b short_base.raw -F raw -o cluster_size=4096 -- \
    "write -P 2 4k 4k" || die short_raw
map short_raw short_raw.qed
info short_raw short_raw.qed

# Backing names: relative to a subdirectory, absolute.
mk qed sub/base.qed 8M -- "write -P 1 1M 64k" || die sub/base
mk qed sub/top.qed 8M -b base.qed -F qed -- "write -P 2 0 64k" || die sub/top
map subdir sub/top.qed
info subdir sub/top.qed
mk qed abs.qed 8M -b "$T/sub/base.qed" -F qed -- "write -P 3 2M 64k" ||
    die abs
map abs abs.qed
info abs abs.qed

# The backing feature with an empty name: no backing file at all.
mk qed empty_name.qed 4M -- "write -P 1 0 64k" &&
    poke empty_name.qed 16 '\001' || die empty_name
map empty_name empty_name.qed
info empty_name empty_name.qed

# A missing backing file: the map fails and names it; info describes.
mk qed gone_base.qed 8M -- "write -P 1 0 64k" || die gone_base
mk qed gone.qed 8M -b gone_base.qed -F qed -- "write -P 2 1M 64k" ||
    die gone
rm -f gone_base.qed
fail gone gone.qed "Could not open backing file|'gone_base.qed'"
info gone gone.qed
mk qed sub/gone.qed 8M -b nothere.raw -F raw -u || die sub/gone
fail subgone sub/gone.qed "Could not open backing file|'sub/nothere.raw'"
info subgone sub/gone.qed

# A damaged L1 entry (L2 table past the end of the file): QEMU's map
# fails; ours names the finding, and --force maps through it.  L1[1]
# (guest 2 GiB on) lies at 0x10008.
mk qed damaged.qed 4G -- "write -P 1 0 64k" "write -P 2 2G 64k" &&
    poke damaged.qed 65544 '\000\000\000\100\000\000\000\000' ||
    die damaged
fail damaged damaged.qed "qed-l1-past-eof|0x40000000|L1 index 1"
force damaged damaged.qed
info damaged damaged.qed

python3 - "$T" <<'PY' || bad=$((bad + 1))
import json, os, sys

T = sys.argv[1]
KEYS = ("start", "length", "depth", "present", "zero", "data", "offset")
verbose = os.environ.get("V")
fails = []
n = 0

def rd(name):
    with open(os.path.join(T, "out", name), errors="replace") as f:
        return f.read()

def js(name):
    try:
        return json.loads(rd(name))
    except ValueError:
        return None

def sub(q, o, path):
    """Every key of qemu's value q is in ours o with the same value."""
    if isinstance(q, dict):
        if not isinstance(o, dict):
            return ["%s: %r, qemu %r" % (path, o, q)]
        out = []
        for k, v in q.items():
            if k not in o:
                out.append("%s%s missing (qemu %r)" % (path, k, v))
            else:
                out += sub(v, o[k], path + k + ".")
        return out
    if isinstance(q, list):
        if not isinstance(o, list) or len(o) != len(q):
            return ["%s: %r, qemu %r" % (path, o, q)]
        out = []
        for i, (a, b) in enumerate(zip(q, o)):
            out += sub(a, b, "%s[%d]." % (path.rstrip("."), i))
        return out
    return [] if q == o and type(q) == type(o) else \
        ["%s: %r, qemu %r" % (path.rstrip("."), o, q)]

for line in open(os.path.join(T, "cases")):
    kind, name, *words = line.split(" ", 2)
    name = name.strip()
    words = words[0].strip() if words else ""
    n += 1
    bad = []
    if kind == "map":
        qrc, orc = int(rd(name + ".qrc")), int(rd(name + ".orc"))
        if (qrc == 0) != (orc == 0):
            bad.append("exit %d, qemu %d: %s" % (orc, qrc,
                       rd(name + ".oerr").strip()))
        elif qrc == 0:
            q, o = js(name + ".q"), js(name + ".o")
            if o is None:
                bad.append("our output is not JSON")
            else:
                qr = [tuple(e.get(k) for k in KEYS) for e in q]
                orr = [tuple(e.get(k) for k in KEYS) for e in o]
                if qr != orr:
                    for i in range(max(len(qr), len(orr))):
                        a = qr[i] if i < len(qr) else None
                        b = orr[i] if i < len(orr) else None
                        if a != b:
                            bad.append("run %d: %s, qemu %s" % (i, b, a))
                            break
                    bad.append("%d runs, qemu %d" % (len(orr), len(qr)))
                if any("damage" in e for e in o):
                    bad.append("damage without --force")
    elif kind == "fail":
        qrc, orc = int(rd(name + ".qrc")), int(rd(name + ".orc"))
        err = rd(name + ".oerr")
        if qrc == 0:
            bad.append("qemu-img map succeeded")
        if orc != 1:
            bad.append("exit %d, want 1" % orc)
        for w in words.split("|"):
            if w and w not in err:
                bad.append("stderr lacks %r: %s" % (w, err.strip()))
    elif kind == "force":
        rc = int(rd(name + ".frc"))
        o = js(name + ".f")
        if rc != 0 or o is None:
            bad.append("--force: exit %d: %s" % (rc,
                       rd(name + ".ferr").strip()))
        elif not any("damage" in e for e in o):
            bad.append("--force: no run marked damaged")
    elif kind == "info":
        qrc, orc = int(rd(name + ".qirc")), int(rd(name + ".oirc"))
        if (qrc == 0) != (orc == 0):
            bad.append("info exit %d, qemu %d: %s" % (orc, qrc,
                       rd(name + ".oierr").strip()))
        elif qrc == 0:
            o = js(name + ".oi")
            if o is None:
                bad.append("our info is not JSON")
            else:
                bad += ["info " + x for x in sub(js(name + ".qi"), o, "")]
    if bad:
        fails.append("%s %s: %s" % (kind, name, "; ".join(bad)))
    elif verbose:
        print("qed_map.sh: %s %s: ok" % (kind, name))
for f in fails:
    print("qed_map.sh: " + f)
sys.stdout.flush()
if fails:
    print("qed_map.sh: %d of %d comparisons disagree with qemu-img" %
          (len(fails), n), file=sys.stderr)
    sys.exit(1)
print("qed_map.sh: %d comparisons agree with qemu-img" % n)
PY
[ "$bad" -eq 0 ]
