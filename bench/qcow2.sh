#!/bin/sh
# SPDX-License-Identifier: MIT
# qcow2.sh --- imgcheck against qemu-img check on two large qcow2 images:
# 1 TiB with preallocation=metadata (64 KiB clusters) and 8 GiB with 512 B
# clusters, fully allocated.  Both are built once, sparse, in build/bench:
# the first by qemu-img, the second by tests/tools/qcow2_prealloc (the same
# layout; qemu-img needs about 20 minutes to preallocate 16M clusters of
# 512 bytes).  Prints medians of 5 runs and peak RSS side by side, and the
# speed-up.
B=${B:-build}
D=build/bench
N=${BENCH_RUNS:-5}
mkdir -p "$D"
if ! command -v qemu-img >/dev/null 2>&1; then
	echo "qcow2 bench skipped: qemu-img not found"
	exit 0
fi
[ -f "$D/q1t.qcow2" ] || qemu-img create -q -f qcow2 \
    -o preallocation=metadata "$D/q1t.qcow2" 1T || exit 1
[ -f "$D/q8g512.qcow2" ] || "$B/tests/bin/qcow2_prealloc" 8G 9 \
    "$D/q8g512.qcow2" || exit 1
for img in q1t q8g512; do
	f="$D/$img.qcow2"
	cat "$f" >/dev/null 2>&1 &	# page cache: both tools read warm
	wait
	echo "$img.qcow2 ($(du -h "$f" | cut -f1) on disk):"
	ours=$(python3 bench/timeit.py "  imgcheck" "$N" "$B/bin/imgcheck" -q "$f")
	qemu=$(python3 bench/timeit.py "  qemu-img check" "$N" qemu-img check -q "$f")
	echo "$ours" | grep -v '^#'
	echo "$qemu" | grep -v '^#'
	o=$(echo "$ours" | sed -n 's/^#.* \([0-9.]*\) [0-9]*$/\1/p')
	q=$(echo "$qemu" | sed -n 's/^#.* \([0-9.]*\) [0-9]*$/\1/p')
	python3 -c "import sys; o,q=float(sys.argv[1]),float(sys.argv[2]); print('  speed-up: %.1fx' % (q/o if o else 0))" "$o" "$q"
done
# The guest map of the 1 TiB image: imgmap --output=json against qemu-img
# map --output=json (issue 9's target: 20x, no more memory).
f="$D/q1t.qcow2"
echo "q1t.qcow2 map --output=json:"
ours=$(python3 bench/timeit.py "  imgmap" "$N" "$B/bin/imgmap" --output=json "$f")
qemu=$(python3 bench/timeit.py "  qemu-img map" "$N" qemu-img map --output=json "$f")
echo "$ours" | grep -v '^#'
echo "$qemu" | grep -v '^#'
o=$(echo "$ours" | sed -n 's/^#.* \([0-9.]*\) [0-9]*$/\1/p')
q=$(echo "$qemu" | sed -n 's/^#.* \([0-9.]*\) [0-9]*$/\1/p')
python3 -c "import sys; o,q=float(sys.argv[1]),float(sys.argv[2]); print('  speed-up: %.1fx' % (q/o if o else 0))" "$o" "$q"
