#!/bin/sh
# SPDX-License-Identifier: MIT
# a7.sh --- archive7 check throughput on a generated 1 GiB archive, beside
# the floor: decrypting and hashing every block once (a7_mk --raw).
B=${B:-build}
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
MIB=${A7_BENCH_MIB:-1024}
f=build/bench/a7-${MIB}m.ar7
mkdir -p build/bench
if [ ! -f "$f" ]; then
	echo "a7: generating $f ($MIB MiB, once)"
	"$B/tests/bin/a7_mk" --big "$MIB" "$f.tmp" && mv "$f.tmp" "$f" || exit 1
fi
size=$(wc -c <"$f")
now() { date +%s.%N; }
# Warm the page cache so both runs read from memory.
cat "$f" >/dev/null
t0=$(now)
"$B/bin/imgcheck" -q --key-hex "$KEY" "$f"
rc=$?
t1=$(now)
raw=$("$B/tests/bin/a7_mk" --raw "$f") || exit 1
awk -v s="$size" -v a="$t0" -v b="$t1" -v r="$raw" -v rc="$rc" 'BEGIN {
	split(r, x, " ");
	c = b - a; mb = s / 1048576;
	printf("a7: imgcheck %.0f MB/s (%.2f s, exit %d); decrypt+SHA-1 floor " \
	    "%.0f MB/s (%.2f s); ratio %.2fx (target <= 2x)\n",
	    mb / c, c, rc, mb / x[1], x[1], c / x[1]);
}'
