#!/bin/sh
# SPDX-License-Identifier: MIT
# sparse.sh --- sparse stream check throughput on generated 4 GiB streams
# (plain and lz4, made once into build/bench with sparse_mk big), beside
# `cat FILE >/dev/null` on the same file (plain: target within 2x) and
# `lz4 -t` on the same lz4 frames (lz4: target no slower).
# SPARSE_BENCH_SIZE=1G for a quicker run.
B=${B:-build}
SIZE=${SPARSE_BENCH_SIZE:-4G}
MK=$B/tests/bin/sparse_mk
mkdir -p build/bench
p=build/bench/sparse-$SIZE.data
z=build/bench/sparse-$SIZE-lz4.data
l=build/bench/sparse-$SIZE.lz4
if [ ! -f "$p" ]; then
	echo "sparse: generating $p ($SIZE of data, once)"
	"$MK" big -s "$SIZE" "$p.tmp" && mv "$p.tmp" "$p" || exit 1
fi
if [ ! -f "$z" ] || [ ! -f "$l" ]; then
	echo "sparse: generating $z and $l ($SIZE of data, once)"
	"$MK" big -z -s "$SIZE" -l "$l.tmp" "$z.tmp" && mv "$z.tmp" "$z" &&
	    mv "$l.tmp" "$l" || exit 1
fi
now() { date +%s.%N; }
# time_of CMD...: seconds taken (status in $st)
time_of() {
	t0=$(now)
	"$@" >/dev/null 2>&1
	st=$?
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf("%.3f", b - a) }'
}
report() {
	awk -v what="$1" -v s="$2" -v c="$3" -v rc="$4" -v ref="$5" \
	    -v rs="$6" -v rt="$7" -v tgt="$8" 'BEGIN {
		mb = s / 1048576;
		printf("sparse %s: imgcheck %.0f MB/s (%.2f s, exit %d); %s " \
		    "%.0f MB/s (%.2f s); ratio %.2fx (target %s)\n", what,
		    mb / c, c, rc, ref, rs / 1048576 / rt, rt, c / rt, tgt);
	}'
}
# Warm the page cache, then time from memory.
cat "$p" >/dev/null
tc=$(time_of cat "$p")
ti=$(time_of "$B/bin/imgcheck" -q "$p")
rc=$st
report plain "$(wc -c <"$p")" "$ti" "$rc" "cat" "$(wc -c <"$p")" "$tc" \
    "<= 2x"
cat "$z" "$l" >/dev/null
ti=$(time_of "$B/bin/imgcheck" -q "$z")
rc=$st
if command -v lz4 >/dev/null 2>&1; then
	tl=$(time_of lz4 -t "$l")
	report lz4 "$(wc -c <"$z")" "$ti" "$rc" "lz4 -t" "$(wc -c <"$l")" \
	    "$tl" "<= 1x"
else
	echo "sparse lz4: imgcheck $ti s (exit $rc); lz4 not installed"
fi
