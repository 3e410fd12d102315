#!/bin/sh
# SPDX-License-Identifier: MIT
# sparse.sh --- the tools end to end on sparse streams from sparse_mk.
#
# Clean streams check clean; every defect of the fixture table gives its
# problem code and exit status; restores (alone and as a chain) give the
# fixture's disk byte for byte; salvaged streams check clean; chains are
# judged; hostile files end in a finding or an error, never a crash or a
# hang.  V=1 prints every case.  One summary line; non-zero on failure.
B=${B:-build}
BIN=$B/bin
MK=$B/tests/bin/sparse_mk
for t in imgcheck imginfo imgmap imgrepair; do
	if [ ! -x "$BIN/$t" ]; then
		echo "sparse.sh: FAIL: $BIN/$t not built" >&2
		exit 1
	fi
done
if [ ! -x "$MK" ]; then
	echo "sparse.sh: FAIL: $MK not built" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/sparsesh.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
TO="timeout 60"
command -v timeout >/dev/null 2>&1 || TO=

n=0
bad=0
ok() {
	n=$((n + 1))
	[ -z "$V" ] || echo "ok   $1"
	return 0
}
fail() {
	n=$((n + 1))
	bad=$((bad + 1))
	echo "FAIL $1" >&2
}
# expect NAME WANT-EXIT CODE-or-- FILE [imgcheck options]
expect() {
	name=$1 want=$2 code=$3 file=$4
	shift 4
	$TO "$BIN/imgcheck" --output=json "$@" "$file" > "$T/out.json" \
	    2> "$T/err.txt"
	got=$?
	if [ "$got" != "$want" ]; then
		fail "$name: imgcheck exit $got, want $want"
		return
	fi
	if [ "$code" != "-" ] && ! grep -q "\"code\": \"$code\"" "$T/out.json"
	then
		fail "$name: no finding $code"
		return
	fi
	ok "$name"
}

# Clean streams, plain and lz4, full and incremental, chunked lz4.
"$MK" std "$T/full.data" && "$MK" std -z "$T/full-lz4.data" &&
"$MK" std -z -c 16K "$T/full-chunked.data" && "$MK" std -i "$T/inc.data" &&
"$MK" std -i -z "$T/inc-lz4.data" && "$MK" disk "$T/disk0.raw" &&
"$MK" disk -i "$T/disk1.raw" || { echo "sparse.sh: FAIL: sparse_mk" >&2;
    exit 1; }
for s in full full-lz4 full-chunked inc inc-lz4; do
	expect "clean $s" 0 - "$T/$s.data"
	if grep -q '"severity": "\(corruption\|leak\|warning\|fatal\)"' \
	    "$T/out.json"; then
		fail "clean $s: has findings"
	fi
done

# Restores: each full alone, then the incremental on top.
for s in full full-lz4 full-chunked; do
	rm -f "$T/r.raw"
	$TO "$BIN/imgmap" --extract -o "$T/r.raw" "$T/$s.data" &&
	    cmp -s "$T/r.raw" "$T/disk0.raw" && ok "extract $s" ||
	    fail "extract $s"
	i=inc
	[ "$s" = full ] || i=inc-lz4
	$TO "$BIN/imgmap" --extract "$T/$i.data" 1<> "$T/r.raw" &&
	    cmp -s "$T/r.raw" "$T/disk1.raw" && ok "extract $s + $i" ||
	    fail "extract $s + $i"
done
# Through a pipe too.
$TO "$BIN/imgmap" --extract "$T/full-lz4.data" | cat > "$T/p.raw"
cmp -s "$T/p.raw" "$T/disk0.raw" && ok "extract to a pipe" ||
    fail "extract to a pipe"

# Map and info.
$TO "$BIN/imgmap" --output=json "$T/full.data" > "$T/map.json" &&
    [ "$(grep -c '"data": true' "$T/map.json")" = 3 ] && ok "map" ||
    fail "map"
$TO "$BIN/imginfo" --output=json "$T/full-lz4.data" > "$T/info.json" &&
    grep -q '"virtual-size": 262144' "$T/info.json" &&
    grep -q '"backup-kind": "full"' "$T/info.json" &&
    grep -q '"format": "sparsestream"' "$T/info.json" && ok "info" ||
    fail "info"

# Chains.
expect "chain full inc" 0 - "$T/inc.data" --chain "$T/full.data"
expect "chain inc full" 2 sparse-chain-first "$T/full.data" --chain \
    "$T/inc.data"

# Every defect of the table, and its salvage.
"$MK" list > "$T/defects.txt" || fail "sparse_mk list"
while read -r name code want; do
	"$MK" defect "$name" "$T/d.data" || { fail "make $name"; continue; }
	expect "defect $name" "$want" "$code" "$T/d.data" -f sparsestream
	rm -f "$T/s.data"
	$TO "$BIN/imgrepair" -q -r all -f sparsestream -o "$T/s.data" 2>/dev/null \
	    "$T/d.data"
	got=$?
	# Not a stream at all (the check's exit 1): nothing to salvage, and
	# no output is left behind.
	if [ "$want" = 1 ] && [ "$code" = sparse-not-a-stream ]; then
		if [ "$got" = 1 ] && [ ! -e "$T/s.data" ]; then
			ok "salvage $name refused"
		else
			fail "salvage $name: exit $got, want 1 and no output"
		fi
		continue
	fi
	if [ "$got" = 0 ] && "$BIN/imgcheck" -q "$T/s.data"; then
		ok "salvage $name"
	else
		fail "salvage $name: imgrepair exit $got"
	fi
	cmp -s "$T/d.data" "$T/s.data" && [ "$want" != 0 ] &&
	    fail "salvage $name: output equals the damaged input"
done < "$T/defects.txt"

# Hostile files found by name, without -f.
: > "$T/empty.data"
expect "zero-byte file" 2 sparse-too-short "$T/empty.data"
head -c 40 /dev/zero > "$T/vda.full.data"
expect "40 NUL bytes" 1 sparse-not-a-stream "$T/vda.full.data"
cp "$T/vda.full.data" "$T/other.data"
# Not claimed as a stream, it is raw (as QEMU probes it): no check.
"$BIN/imgcheck" "$T/other.data" > /dev/null 2>&1
[ $? = 63 ] && ok "40 NUL bytes, not a backup's name" ||
    fail "40 NUL bytes, not a backup's name"
"$MK" defect meta-huge "$T/huge.data"
expect "meta length 2^63" 2 sparse-meta-length "$T/huge.data"
"$MK" defect lz4-content "$T/big.data"
expect "lz4 frame declaring 4 GiB" 2 sparse-lz4-content-size "$T/big.data"
# A trailer of a million elements on the standard lz4 stream.
if ! command -v python3 >/dev/null 2>&1; then
	fail "a million trailer elements: python3 not found (make deps)"
elif python3 - "$T/full-lz4.data" "$T/million.data" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
t = int(d[-18:-2], 16)
body = d[:len(d) - 42 - t]
j = ("[" + ", ".join(["1"] * 1000000) + "]").encode()
open(sys.argv[2], "wb").write(body + j + b"\r\n" +
    b"comp %016x %016x\r\n" % (0, len(j)))
PY
then
	expect "a million trailer elements" 2 sparse-lz4-payload-size \
	    "$T/million.data"
else
	fail "a million trailer elements: the stream could not be made"
fi
# A .chksum beside the stream that does not match.
cp "$T/full.data" "$T/c.data"
printf 12345 > "$T/c.data.chksum"
expect "chksum mismatch" 2 sparse-chksum-mismatch "$T/c.data"

if [ "$bad" -ne 0 ]; then
	echo "sparse.sh: $bad of $n checks failed"
	exit 1
fi
echo "sparse.sh: $n checks passed"
exit 0
