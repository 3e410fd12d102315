#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh --- make bench: run every bench/*.sh part; each prints its figures.
# Generated inputs live in build/bench (made once, sparse where possible).
B=${B:-build}
export B
mkdir -p build/bench
# The table of issue 12 (every row, warm and cold, build/bench.json).
echo "== bench/table.py"
python3 bench/table.py || echo "bench: bench/table.py failed" >&2
for t in bench/[a-z]*.sh; do
	[ "$t" = bench/run.sh ] && continue
	[ -f "$t" ] || continue
	echo "== $t"
	sh "$t" || echo "bench: $t failed" >&2
done
