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
# Repair of leaks (issue 10): imgrepair -r leaks -o against qemu-img check
# -r leaks on the 1 TiB image with 1,000 leaked clusters: refcounts of
# 1,000 data clusters, two per refcount block, raised from 1 to 2 (the
# poke is idempotent).  qemu repairs in place, so its copy is poked again,
# untimed, before each of its runs; ours writes a new file from an input
# that does not change.
f="$D/q1t-leaks.qcow2"
qc="$D/q1t-leaks-qemu.qcow2"
echo "q1t.qcow2 with 1000 leaks, repair -r leaks:"
qemu-img create -q -f qcow2 "$D/probe.qcow2" 1M
if ! "$B/bin/imgrepair" -q -r leaks -o "$D/probe-out.qcow2" \
    "$D/probe.qcow2" 2>"$D/probe.err"; then
	echo "  skipped: imgrepair cannot repair qcow2 yet" \
	    "($(head -1 "$D/probe.err"))"
	rm -f "$D/probe.qcow2" "$D/probe-out.qcow2" "$D/probe.err"
	exit 0
fi
rm -f "$D/probe.qcow2" "$D/probe-out.qcow2" "$D/probe.err"
leak1000() {
	python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    h = f.read(104)
    cs = 1 << struct.unpack_from(">I", h, 20)[0]
    rt_off, rt_cl = struct.unpack_from(">QI", h, 48)
    if struct.unpack_from(">I", h, 96)[0] != 4:
        sys.exit("leak1000: want 16-bit refcounts")
    f.seek(rt_off)
    rt = struct.unpack(">%dQ" % (rt_cl * cs // 8), f.read(rt_cl * cs))
    blocks = [e & ~0x1ff for e in rt if e & ~0x1ff]
    n = 0
    for b in blocks[1:]:
        for i in (2000, 40000):     # entries 1000 and 20000
            f.seek(b + i)
            if struct.unpack(">H", f.read(2))[0] not in (1, 2):
                continue
            f.seek(b + i)
            f.write(struct.pack(">H", 2))
            n += 1
            if n == 1000:
                sys.exit(0)
    sys.exit("leak1000: only %d data clusters found" % n)
PY
}
if [ ! -f "$f" ]; then
	cp --sparse=always "$D/q1t.qcow2" "$f.tmp" && leak1000 "$f.tmp" &&
	    mv "$f.tmp" "$f" || { rm -f "$f.tmp"; exit 1; }
fi
cp --sparse=always "$f" "$qc" || exit 1
ours=$(python3 bench/timeit.py "  imgrepair -r leaks -o" "$N" \
    "$B/bin/imgrepair" -q -r leaks -o "$D/q1t-leaks-out.qcow2" "$f")
i=0
qemu=""
while [ $i -lt "$N" ]; do
	leak1000 "$qc" || exit 1
	qemu="$qemu
$(python3 bench/timeit.py "  qemu-img check -r leaks" 1 \
	    qemu-img check -q -r leaks "$qc")"
	i=$((i + 1))
done
# The median and peak RSS of qemu's single runs, in timeit.py's format.
qemu=$(echo "$qemu" | python3 -c '
import sys
lines = [l.rstrip() for l in sys.stdin if l.strip()]
rows = [l.split() for l in lines if l.startswith("#")]
t = sorted(float(r[-2]) for r in rows)
rss = max(int(r[-1]) for r in rows)
ex = sorted({l.split("exit")[-1].strip() for l in lines if " exit " in l})
lab = "  qemu-img check -r leaks"
print("%-28s median %8.3f s  peak rss %8d KiB  exit %s" % (
    lab, t[len(t) // 2], rss, ",".join(ex)))
print("#%s %.6f %d" % (lab, t[len(t) // 2], rss))')
echo "$ours" | grep -v '^#'
echo "$qemu" | grep -v '^#'
o=$(echo "$ours" | sed -n 's/^#.* \([0-9.]*\) [0-9]*$/\1/p')
q=$(echo "$qemu" | sed -n 's/^#.* \([0-9.]*\) [0-9]*$/\1/p')
python3 -c "import sys; o,q=float(sys.argv[1]),float(sys.argv[2]); print('  speed-up: %.1fx' % (q/o if o else 0))" "$o" "$q"
rm -f "$qc" "$D/q1t-leaks-out.qcow2"
