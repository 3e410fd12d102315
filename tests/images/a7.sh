#!/bin/sh
# SPDX-License-Identifier: MIT
# a7.sh --- archive7 end to end with the tools: check with and without the
# key, info, map, extract, repair into a new file and in place.
B=${B:-build}
bin=$B/bin
mk=$B/tests/bin/a7_mk
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
T=$(mktemp -d "${TMPDIR:-/tmp}/a7sh.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
n=0
fail=0

# expect NAME WANT-EXIT COMMAND...
expect() {
	name=$1 want=$2
	shift 2
	n=$((n + 1))
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "a7.sh: $name: exit $rc, want $want" >&2
		sed 's/^/    /' "$T/out" "$T/err" | head -20 >&2
		fail=$((fail + 1))
	fi
}

# contains NAME STRING: the last command's stdout holds STRING
contains() {
	n=$((n + 1))
	if ! grep -q -- "$2" "$T/out"; then
		echo "a7.sh: $1: output lacks '$2'" >&2
		fail=$((fail + 1))
	fi
}

for d in clean cut cycle orphan-blank stale mac half-append; do
	"$mk" "$T/$d.ar7" "$d" || { echo "a7.sh: a7_mk $d failed" >&2; exit 1; }
done
cp "$T/clean.ar7" "$T/clean.img"

expect "clean" 0 "$bin/imgcheck" --key-hex "$KEY" "$T/clean.ar7"
expect "clean json" 0 "$bin/imgcheck" --key-hex "$KEY" --output=json \
    "$T/clean.ar7"
contains "clean json" '"verdict": "clean"'
IMGKIT_A7_KEY=$KEY expect "key from the environment" 0 "$bin/imgcheck" \
    "$T/clean.ar7"
printf '%s\n' "$KEY" >"$T/key"
expect "key file" 0 "$bin/imgcheck" --key-file "$T/key" "$T/clean.ar7"
expect "no key" 1 env -u IMGKIT_A7_KEY "$bin/imgcheck" "$T/clean.ar7"
contains "no key" a7-no-key
# Nothing in the bytes says archive7: without its suffix it is raw.
expect "no suffix, no -f" 63 "$bin/imgcheck" --key-hex "$KEY" "$T/clean.img"
expect "no suffix, -f" 0 "$bin/imgcheck" -f archive7 --key-hex "$KEY" \
    "$T/clean.img"
expect "wrong key" 1 "$bin/imgcheck" --key-hex \
    1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100 \
    "$T/clean.ar7"
contains "wrong key" a7-wrong-key
expect "info" 0 "$bin/imginfo" --key-hex "$KEY" --output=json \
    "$T/clean.ar7"
contains "info" '"/file1.bin"'
contains "info" '"size": 9000'
expect "info without key" 0 env -u IMGKIT_A7_KEY "$bin/imginfo" \
    "$T/clean.ar7"
contains "info without key" 'blocks: 18'

expect "cut" 2 "$bin/imgcheck" --key-hex "$KEY" "$T/cut.ar7"
contains "cut" a7-end-mismatch
expect "cycle" 2 "$bin/imgcheck" --key-hex "$KEY" "$T/cycle.ar7"
contains "cycle" a7-cycle
expect "orphan blank" 3 "$bin/imgcheck" --key-hex "$KEY" \
    "$T/orphan-blank.ar7"
expect "stale" 2 "$bin/imgcheck" --key-hex "$KEY" "$T/stale.ar7"
contains "stale" a7-stale-meta
expect "mac" 2 "$bin/imgcheck" --key-hex "$KEY" "$T/mac.ar7"
contains "mac" a7-decrypt-failed
expect "half append" 2 "$bin/imgcheck" --key-hex "$KEY" \
    "$T/half-append.ar7"

if [ -x "$bin/imgmap" ]; then
	expect "map" 0 "$bin/imgmap" --key-hex "$KEY" "$T/clean.ar7"
	contains "map" "/file1.bin"
	"$mk" --dump 1 9000 >"$T/want1"
	expect "extract" 0 "$bin/imgmap" --key-hex "$KEY" \
	    --extract=/file1.bin -o "$T/got1" "$T/clean.ar7"
	n=$((n + 1))
	cmp -s "$T/want1" "$T/got1" || {
		echo "a7.sh: extract: bytes differ" >&2
		fail=$((fail + 1))
	}
fi

if [ -x "$bin/imgrepair" ]; then
	for d in cut cycle stale mac half-append; do
		expect "repair $d" 0 "$bin/imgrepair" -r all --key-hex "$KEY" \
		    -o "$T/$d-fixed.ar7" "$T/$d.ar7"
		expect "recheck $d" 0 "$bin/imgcheck" --key-hex "$KEY" \
		    "$T/$d-fixed.ar7"
	done
	expect "repair leaks in place" 0 "$bin/imgrepair" -r leaks \
	    --key-hex "$KEY" --in-place --undo "$T/undo" \
	    "$T/orphan-blank.ar7"
	expect "recheck in place" 0 "$bin/imgcheck" --key-hex "$KEY" \
	    "$T/orphan-blank.ar7"
	expect "repair without key" 1 env -u IMGKIT_A7_KEY \
	    "$bin/imgrepair" -r all -o "$T/nokey.ar7" "$T/cut.ar7"
fi

echo "a7.sh: $((n - fail))/$n passed"
[ "$fail" -eq 0 ]
