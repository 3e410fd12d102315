#!/bin/sh
# SPDX-License-Identifier: MIT
# batch.sh --- imgcheck and imginfo over many images in one run.
#
# 1,000 small qcow2 images (hard links to two samples) are checked in one
# run with --jobs 2: one JSON object per line, in argument order, each with
# its filename and verdict; the exit status is the worst one (clean <
# no check < leaks < corrupt < failed); the list read from standard input
# (newline- and NUL-separated) gives the same output as the arguments; the
# list is read as the run goes (the first result is out before the list
# ends); a list of 300,000 paths takes no more memory than one; and the batch costs no
# more per image than one run per image.  One python3 judges the JSON.
B=${B:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
CHECK=$B/bin/imgcheck
INFO=$B/bin/imginfo
MK=$B/tests/bin/qcow2_mk
N=1000
fail=0
bad() { echo "batch: FAIL: $*"; fail=$((fail + 1)); }
for t in "$CHECK" "$INFO" "$MK"; do
	[ -x "$t" ] || { echo "batch: FAIL: $t not built" >&2; exit 1; }
done
command -v python3 >/dev/null 2>&1 ||
    { echo "batch: FAIL: python3 not found (make deps)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/batch.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

for k in clean leak corrupt; do
	"$MK" $k "$T/$k.qcow2" || { echo "batch: FAIL: qcow2_mk $k" >&2; exit 1; }
done
: > "$T/raw.img"
truncate -s 1M "$T/raw.img"
# i/A/B/C.qcow2 for digits A, B, C: C = 3 leaks, the rest are clean.  Ten
# links, then copies of the folders made of links.
mkdir -p "$T/i/0/0"
for c in 0 1 2 3 4 5 6 7 8 9; do
	k=clean
	[ $c -eq 3 ] && k=leak
	ln "$T/$k.qcow2" "$T/i/0/0/$c.qcow2"
done
for d in 1 2 3 4 5 6 7 8 9; do
	cp -al "$T/i/0/0" "$T/i/0/$d"
done
for d in 1 2 3 4 5 6 7 8 9; do
	cp -al "$T/i/0" "$T/i/$d"
done
find "$T/i" -name '*.qcow2' | sort > "$T/list"
[ "$(wc -l < "$T/list")" -eq $N ] ||
    { echo "batch: FAIL: $N images not made" >&2; exit 1; }
# Argument order differs from directory order: reverse the list.
sort -r "$T/list" > "$T/args"

# 1. 1,000 in one run, two at a time: worst is 3 (leaks).
t0=$(date +%s%N)
# shellcheck disable=SC2046
"$CHECK" --output=json --jobs 2 $(cat "$T/args") > "$T/all.jsonl" 2>"$T/err"
rc=$?
t1=$(date +%s%N)
[ $rc -eq 3 ] || bad "1,000 images: exit $rc, want 3 (leaks): $(head -3 "$T/err")"

# 2. The same list on standard input, one a line and NUL-separated.
"$CHECK" --output=json -j 2 - < "$T/args" > "$T/stdin.jsonl" 2>/dev/null
rc=$?
[ $rc -eq 3 ] || bad "list on stdin: exit $rc, want 3"
cmp -s "$T/all.jsonl" "$T/stdin.jsonl" ||
    bad "list on stdin: output differs from the arguments'"
tr '\n' '\0' < "$T/args" | "$CHECK" -0 --output=json -j 2 - \
    > "$T/nul.jsonl" 2>/dev/null
rc=$?
[ $rc -eq 3 ] || bad "NUL-separated list: exit $rc, want 3"
cmp -s "$T/all.jsonl" "$T/nul.jsonl" ||
    bad "NUL-separated list: output differs from the arguments'"
(cd "$T/i" && find . -name '*.qcow2' -print0) | (cd "$T/i" &&
    "$CHECK" -q -0 -j 2 -)
rc=$?
[ $rc -eq 3 ] || bad "find -print0 | imgcheck -q -0 -: exit $rc, want 3"

# 3. The worst exit status: corrupt beats leaks, failure beats corrupt,
# no check (raw) beats clean only.
f1=$(sed -n 1p "$T/args")
f2=$(sed -n 2p "$T/args")
"$CHECK" -q -j 2 "$f1" "$f2" "$T/corrupt.qcow2" "$T/leak.qcow2"
rc=$?
[ $rc -eq 2 ] || bad "clean, corrupt, leak: exit $rc, want 2"
"$CHECK" -q -j 2 "$T/corrupt.qcow2" "$T/nonexistent" "$T/leak.qcow2" \
    2>/dev/null
rc=$?
[ $rc -eq 1 ] || bad "corrupt, missing, leak: exit $rc, want 1"
"$CHECK" -q -j 2 "$T/clean.qcow2" "$T/raw.img" 2>/dev/null
rc=$?
[ $rc -eq 63 ] || bad "clean, raw: exit $rc, want 63"
"$CHECK" -q -j 2 "$T/raw.img" "$T/leak.qcow2" 2>/dev/null
rc=$?
[ $rc -eq 3 ] || bad "raw, leak: exit $rc, want 3"
"$CHECK" --output=json -j 3 "$T/clean.qcow2" "$T/nonexistent" \
    "$T/raw.img" "$T/corrupt.qcow2" > "$T/mixed.jsonl" 2>"$T/mixed.err"
rc=$?
[ $rc -eq 1 ] || bad "mixed JSON run: exit $rc, want 1"
grep -q "^imgcheck: cannot open '$T/nonexistent'" "$T/mixed.err" ||
    bad "mixed JSON run: no 'cannot open' line on stderr"

# 4. Human output: one block per image, blank lines between.
"$CHECK" -j 2 "$T/clean.qcow2" "$T/leak.qcow2" "$T/corrupt.qcow2" \
    > "$T/human" 2>/dev/null
rc=$?
[ $rc -eq 2 ] || bad "human: exit $rc, want 2"
[ "$(grep -c '^$' "$T/human")" -eq 2 ] || bad "human: want 2 blank lines"
[ "$(grep -c "^$T/.*\\.qcow2: " "$T/human")" -eq 3 ] ||
    bad "human: want 3 verdict lines"

# 5. imginfo: the same in JSON Lines; -q prints nothing.
"$INFO" --output=json -j 2 $(sed -n 1,50p "$T/args") "$T/nonexistent" \
    "$T/raw.img" > "$T/info.jsonl" 2>/dev/null
rc=$?
[ $rc -eq 1 ] || bad "imginfo with a missing image: exit $rc, want 1"
out=$("$INFO" -q -j 2 "$T/clean.qcow2" "$T/raw.img")
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || bad "imginfo -q: exit $rc, output '$out'"
"$INFO" -j 2 "$T/clean.qcow2" "$T/raw.img" > "$T/info.human"
[ "$(grep -c '^image: ' "$T/info.human")" -eq 2 ] ||
    bad "imginfo human: want 2 blocks"

# 6. The list is read as the run goes: the producer waits (up to 10 s)
# for the first result before it writes the second path.
{
	echo "$T/clean.qcow2"
	i=0
	while [ ! -s "$T/stream.jsonl" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$T/stream.jsonl" ] && echo early > "$T/stream.when"
	echo "$T/leak.qcow2"
} | "$CHECK" --output=json -j 2 - > "$T/stream.jsonl"
rc=$?
[ $rc -eq 3 ] || bad "streamed list: exit $rc, want 3"
[ -f "$T/stream.when" ] ||
    bad "streamed list: no result before the list ended"

# 7. 300,000 paths on standard input (none exist): memory stays that of
# a run over one image (holding the list would take some 15 MiB more).
# AddressSanitizer keeps freed memory in quarantine, so SAN=1 (build/san)
# skips the bound; the plain build checks it.
if case $B in */san) true ;; *) false ;; esac; then
	echo "batch: memory bound not measured under the sanitizers"
elif [ -x /usr/bin/time ]; then
	/usr/bin/time -f %M -o "$T/rss1" "$CHECK" -q "$T/nonexistent" \
	    2>/dev/null
	yes "$T/nonexistent" | head -n 300000 |
	    /usr/bin/time -f %M -o "$T/rss" "$CHECK" -q -j 2 - 2>/dev/null
	rc=$?
	kb1=$(tail -1 "$T/rss1")
	kb=$(tail -1 "$T/rss")
	[ $rc -eq 1 ] || bad "300,000 paths: exit $rc, want 1"
	[ "$kb" -lt $((kb1 + 4096)) ] 2>/dev/null ||
	    bad "300,000 paths: peak RSS $kb KiB, one image $kb1 KiB"
else
	bad "/usr/bin/time not found (make deps installs 'time')"
fi

# 8. Per image, the batch costs no more than one run per image.
t2=$(date +%s%N)
for f in $(sed -n 1,50p "$T/args"); do
	"$CHECK" --output=json "$f" > /dev/null
done
t3=$(date +%s%N)
batch_us=$(( (t1 - t0) / 1000 / N ))
single_us=$(( (t3 - t2) / 1000 / 50 ))
[ $batch_us -le $single_us ] ||
    bad "batch $batch_us us per image, single runs $single_us us"

python3 - "$T" "$N" <<'PY' || fail=$((fail + 1))
import json, sys
T, N = sys.argv[1], int(sys.argv[2])
bad = []
args = open(T + "/args").read().split("\n")[:-1]
def lines(name):
    out = []
    for ln in open(T + "/" + name):
        try:
            out.append(json.loads(ln))
        except ValueError:
            bad.append("%s: a line is not JSON: %r" % (name, ln[:60]))
    return out
docs = lines("all.jsonl")
if len(docs) != N:
    bad.append("all.jsonl: %d lines, want %d" % (len(docs), N))
if [d.get("filename") for d in docs] != args:
    bad.append("all.jsonl: filenames not in argument order")
for d in docs:
    want = "leaks" if d["filename"].endswith("/3.qcow2") else "clean"
    if d.get("verdict") != want or d.get("format") != "qcow2":
        bad.append("%s: verdict %s, want %s" % (d["filename"],
                   d.get("verdict"), want))
        break
mixed = lines("mixed.jsonl")
want = [("clean.qcow2", "clean"), ("nonexistent", None),
        ("raw.img", "no-check"), ("corrupt.qcow2", "corrupt")]
got = [(d.get("filename", "").rsplit("/", 1)[-1], d.get("verdict"))
       for d in mixed]
if got != want:
    bad.append("mixed.jsonl: %s, want %s" % (got, want))
if len(mixed) > 1 and "error" not in mixed[1]:
    bad.append("mixed.jsonl: the missing image has no error")
info = lines("info.jsonl")
names = [d.get("filename") for d in info]
if names != args[:50] + [T + "/nonexistent", T + "/raw.img"]:
    bad.append("info.jsonl: filenames not in argument order")
elif info[0].get("format") != "qcow2" or "error" not in info[50] or \
        info[51].get("format") != "raw":
    bad.append("info.jsonl: wrong formats or no error")
for b in bad:
    print("batch: FAIL: " + b)
sys.exit(1 if bad else 0)
PY
if [ $fail -ne 0 ]; then
	echo "batch: $fail checks failed" >&2
	exit 1
fi
echo "batch: $N images in one run in order, worst exit, stdin lists;" \
    "$batch_us us per image batched, $single_us us in single runs"
