#!/bin/sh
# SPDX-License-Identifier: MIT
# schema.sh --- every fixture's JSON output against schema/*.json (JSON
# Schema 2020-12): imginfo (info.json), imgcheck (check.json, a batch in
# JSON Lines too), imgmap (map.json), imgmap --host and --host --summary
# (hostmap.json), imgrepair -r all --dry-run (repair.json) and
# imgcheck --list-problems (problems.json).
#
# The fixtures: the samples, the qcow2, QED, sparse-stream (every defect
# sparse_mk knows) and archive7 fixture writers, qemu-made qcow2 (backing
# file, snapshot, bitmap, compressed, LUKS) and QED images, a raw file
# and a missing one.  One python3 with jsonschema (python3-jsonschema,
# make deps) validates everything.
B=${B:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
here=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$B/bin
MK=$B/tests/bin
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
PY=
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1 &&
	    "$p" -c 'import jsonschema; jsonschema.Draft202012Validator' \
	    2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	echo "schema: FAIL: python3 with jsonschema not found (make deps" \
	    "installs python3-jsonschema)" >&2
	exit 1
fi
for t in qemu-img qemu-io; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "schema: FAIL: $t not found (make deps)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/schema.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
F=$T/fix
O=$T/out
mkdir "$F" "$O"
cd "$T" || exit 1

# ---- fixtures --------------------------------------------------------------
for s in "$here"/samples/*.gz; do
	gzip -dc "$s" > "$F/sample-$(basename "$s" .gz)"
done
for k in clean corrupt leak; do "$MK/qcow2_mk" $k "$F/mk-$k.qcow2"; done
for k in clean past-eof; do "$MK/qed_mk" $k "$F/mk-$k.qed"; done
"$MK/sparse_mk" std "$F/std.data"
"$MK/sparse_mk" std -z "$F/lz4.data"
"$MK/sparse_mk" list | while read -r d _; do
	"$MK/sparse_mk" defect "$d" "$F/defect-$d.data"
done
for d in clean cut cycle orphan-blank stale mac half-append; do
	"$MK/a7_mk" "$F/a7-$d.ar7" "$d"
done
qemu-img create -q -f qcow2 "$F/q-base.qcow2" 16M &&
    qemu-img create -q -f qcow2 -b "$F/q-base.qcow2" -F qcow2 \
    "$F/q-top.qcow2" 16M &&
    qemu-io -c 'write -P 1 0 128k' -c 'write -c -P 2 1M 64k' \
    "$F/q-top.qcow2" >/dev/null &&
    qemu-img snapshot -c s1 "$F/q-top.qcow2" &&
    qemu-img bitmap --add "$F/q-top.qcow2" b0 &&
    qemu-img create -q -f qcow2 -o compat=0.10 "$F/q-v2.qcow2" 1M &&
    qemu-img create -q -f qed "$F/q.qed" 16M &&
    qemu-io -f qed -c 'write -P 3 0 64k' "$F/q.qed" >/dev/null ||
    { echo "schema: FAIL: qemu-made fixtures" >&2; exit 1; }
for i in 1 2 3 4 5 6 7 8; do
	qemu-img create -q -f qcow2 --object secret,id=s0,data=pw -o \
	    encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
	    "$F/q-luks.qcow2" 1M 2>"$T/luks.err" && break
	grep -q "accurate CPU usage" "$T/luks.err" || break
done
truncate -s 1M "$F/raw.img"

# ---- outputs ---------------------------------------------------------------
# Each output file is named SCHEMA.N.json (or .jsonl: one object a line).
n=0
out() {	# SCHEMA EXT COMMAND...: run COMMAND, keep its stdout
	sch=$1 ext=$2
	shift 2
	n=$((n + 1))
	"$@" > "$O/$sch.$n.$ext" 2>/dev/null
	[ -s "$O/$sch.$n.$ext" ] || rm -f "$O/$sch.$n.$ext"
	echo "$sch.$n.$ext $*" >> "$T/cmds"
}
for f in "$F"/* "$F/missing.qcow2"; do
	case $f in *.ar7) k="--key-hex $KEY" ;; *) k= ;; esac
	# shellcheck disable=SC2086
	{
		out info jsonl "$BIN/imginfo" $k --output=json "$f"
		out check jsonl "$BIN/imgcheck" $k --output=json \
		    --max-findings 0 "$f"
		out map json "$BIN/imgmap" $k --output=json "$f"
		out map json "$BIN/imgmap" $k --output=json --force "$f"
		out hostmap json "$BIN/imgmap" $k --output=json --host "$f"
		out hostmap json "$BIN/imgmap" $k --output=json --host \
		    --summary "$f"
		out repair json "$BIN/imgrepair" $k -r all --dry-run \
		    --output=json "$f"
	}
done
# A batch: every fixture, the raw file and the missing one, in one run.
out check jsonl "$BIN/imgcheck" --output=json -j 2 "$F"/*.qcow2 \
    "$F"/*.qed "$F"/*.data "$F/raw.img" "$F/missing.qcow2"
out info jsonl "$BIN/imginfo" --output=json -j 2 "$F"/* "$F/missing.qcow2"
out problems json "$BIN/imgcheck" --list-problems --output=json

"$PY" - "$here/schema" "$O" "$T/cmds" <<'PY'
import json, os, sys
import jsonschema
sdir, odir, cmds = sys.argv[1:4]
names = {}
for l in open(cmds):
    f, cmd = l.rstrip("\n").split(" ", 1)
    names[f] = cmd
schemas = {}
for fn in sorted(os.listdir(sdir)):
    if fn.endswith(".json"):
        with open(os.path.join(sdir, fn)) as f:
            s = json.load(f)
        jsonschema.Draft202012Validator.check_schema(s)
        schemas[fn[:-5]] = jsonschema.Draft202012Validator(s)
bad, docs, seen = 0, 0, set()
for fn in sorted(os.listdir(odir)):
    sch = fn.split(".")[0]
    v = schemas.get(sch)
    if v is None:
        print("schema: FAIL: no schema/%s.json" % sch)
        bad += 1
        continue
    seen.add(sch)
    text = open(os.path.join(odir, fn)).read()
    if fn.endswith(".jsonl"):
        lines = text.splitlines()
    else:
        lines = [text]
    for ln in lines:
        docs += 1
        try:
            doc = json.loads(ln)
        except ValueError as e:
            print("schema: FAIL: %s: not JSON (%s): %s" % (names[fn], e,
                  ln[:100]))
            bad += 1
            continue
        errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
        for e in errs[:3]:
            print("schema: FAIL: %s: %s at %s" % (names[fn], e.message[:200],
                  "/".join(str(p) for p in e.path)))
        bad += 1 if errs else 0
for s in schemas:
    if s not in seen:
        print("schema: FAIL: nothing was validated against %s.json" % s)
        bad += 1
if bad:
    print("schema: %d of %d documents fail their schema" % (bad, docs))
    sys.exit(1)
print("schema: %d documents of %d kinds valid against schema/*.json"
      % (docs, len(schemas)))
PY
