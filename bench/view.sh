#!/bin/sh
# SPDX-License-Identifier: MIT
# view.sh --- the viewer (imgmap --tui) in tmux on the two large qcow2
# images of bench/qcow2.sh (1 TiB preallocated, 64 KiB clusters; 8 GiB of
# 512-byte clusters, fully allocated): when the first screen is drawn,
# when the guest map, the check's findings and the host map reach it.
# The viewer writes those times itself (IMGKIT_VIEW_TIMES, seconds from
# its start); the page cache is warmed by one imgcheck first.  Medians of
# BENCH_RUNS (3) runs.  Target: the first screen under one second on the
# 1 TiB image.
B=${B:-build}
D=build/bench
N=${BENCH_RUNS:-3}
mkdir -p "$D"
for t in tmux qemu-img python3; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "view bench skipped: $t not found"
		exit 0
	fi
done
[ -f "$D/q1t.qcow2" ] || qemu-img create -q -f qcow2 \
    -o preallocation=metadata "$D/q1t.qcow2" 1T || exit 1
[ -f "$D/q8g512.qcow2" ] || "$B/tests/bin/qcow2_prealloc" 8G 9 \
    "$D/q8g512.qcow2" || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/viewbench.XXXXXX") || exit 1
printf 'set -g default-terminal screen\nset -g status off\n' > "$T/conf"
k=0
trap 'tmux -L imgkit-vb-$$-$k kill-server >/dev/null 2>&1; rm -rf "$T"' EXIT

# One run on $1: the times file in $T/times.$2.
run() {
	k=$((k + 1))
	sock=imgkit-vb-$$-$k
	rm -f "$T/times.$2" "$T/done"
	tmux -L "$sock" -f "$T/conf" new-session -d -x 100 -y 30 \
	    "IMGKIT_VIEW_TIMES=$T/times.$2 $B/bin/imgmap --tui $1; touch $T/done"
	i=0
	while ! grep -q '^host-map' "$T/times.$2" 2>/dev/null &&
	    [ $i -lt 6000 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	tmux -L "$sock" send-keys q
	i=0
	while [ ! -f "$T/done" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	tmux -L "$sock" kill-server >/dev/null 2>&1
}

for img in q1t q8g512; do
	f="$D/$img.qcow2"
	"$B/bin/imgcheck" -q "$f" >/dev/null 2>&1
	r=1
	while [ $r -le "$N" ]; do
		run "$f" "$r"
		r=$((r + 1))
	done
	echo "$img.qcow2 in the viewer (imgmap --tui, median of $N):"
	python3 - "$T" "$N" <<'EOF'
import statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
t = {}
for r in range(1, n + 1):
    try:
        for line in open('%s/times.%d' % (d, r)):
            w = line.split()
            t.setdefault(w[0], []).append((float(w[1]), w[2:]))
    except OSError:
        pass
names = [('first-screen', 'first screen'), ('guest-map', 'guest map shown'),
         ('check', 'check done'), ('host-map', 'host map shown')]
for key, label in names:
    v = t.get(key)
    if not v:
        print('  %-16s  (not reached)' % label)
        continue
    m = statistics.median(x for x, _ in v)
    extra = '  (%s findings)' % v[0][1][0] if key == 'check' else ''
    print('  %-16s %7.3f s%s' % (label, m, extra))
EOF
done
