#!/bin/sh
# SPDX-License-Identifier: MIT
# progress.sh --- the progress line, seen through a real terminal.
#
# Each tool runs under script(1), which gives it a pseudo-terminal, with
# IMGKIT_PROGRESS_DELAY=0 so a run of milliseconds draws the line too.
# The line must name the image, the percentage, the bytes of all (the
# image's L2 tables for qcow2 and QED, its bytes for a stream, an archive
# and a copy: each total worked out here from how the image was made),
# the rate and the time left; it must fit the terminal and be cleared
# before the result.  With the default delay a quick run, and with -q,
# JSON output or a stderr that is not a terminal any run, prints no line.
B=${B:-build}
bin=$B/bin
for t in qemu-img qemu-io python3 script; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "progress: FAIL: $t not found (make deps)" >&2; exit 1; }
done
for t in imgcheck imgmap imgrepair; do
	[ -x "$bin/$t" ] ||
	    { echo "progress: FAIL: $bin/$t not built" >&2; exit 1; }
done
bin=$(cd "$bin" && pwd) || exit 1
mk=$(cd "$B/tests/bin" && pwd) || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/progress.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
n=0
fail=0
bad() { echo "progress: FAIL: $*"; fail=$((fail + 1)); }

# tty OUT CMD: run the shell command CMD on a terminal; OUT gets all the
# terminal showed.
tty() {
	script -qec "$2" /dev/null </dev/null >"$1" 2>&1
}

# line NAME OUT IMAGE TOTAL: OUT shows a progress line for IMAGE whose
# total is TOTAL, cleared before anything else is printed.
line() {
	n=$((n + 1))
	python3 - "$2" "$3" "$4" <<'EOF' || bad "$1"
import re, sys
out = open(sys.argv[1], encoding="utf-8", errors="replace", newline="").read()
name, total = sys.argv[2], sys.argv[3]
pat = re.compile(r"\r(?:\.\.\.)?(\S*): +(\d+\.\d)%  (\S+ \S*B) of (\S+ \S*B)"
                 r"  (\S+ \S*B)/s  (\S+(?: \S+)?) left( *)")
ms = list(pat.finditer(out))
if not ms:
    sys.exit("no progress line in %r" % out[:300])
for m in ms:
    if not name.endswith(m.group(1)):
        sys.exit("line names %r, not %r" % (m.group(1), name))
    if m.group(4) != total:
        sys.exit("total %r, want %r" % (m.group(4), total))
    if not 0.0 <= float(m.group(2)) <= 100.0:
        sys.exit("percentage %s" % m.group(2))
    # Redrawn in place: no row of it may wrap an 80-column terminal.
    if len(m.group(0).rstrip(" ")) - 1 > 79:
        sys.exit("line of %d columns" % (len(m.group(0)) - 1))
# Cleared: the last line is overwritten by blanks and a carriage return
# before the next output, which then starts at column 0.
last = ms[-1]
rest = out[last.end():]
w = len(last.group(0)) - 1
if not re.match(r"\r {%d,}\r" % (w - len(last.group(7))), rest):
    sys.exit("line not cleared: %r" % rest[:80])
EOF
}

# none NAME OUT: OUT shows no progress line.
none() {
	n=$((n + 1))
	grep -q '% .* left' "$1" && bad "$1: a progress line" && return
	:
}

# qcow2, 4 KiB clusters: an L2 table of 512 entries per 2 MiB of guest,
# so 256 MiB preallocated has 128 tables of 4 KiB: 512 KiB to walk.
qemu-img create -q -f qcow2 -o cluster_size=4096,preallocation=metadata \
    a.qcow2 256M || exit 1
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck a.qcow2"
line "imgcheck qcow2" out a.qcow2 "512 KiB"
grep -q "no errors were found" out || bad "imgcheck qcow2: no verdict"

# QED, 64 KiB clusters, tables of 4 clusters (256 KiB, 32768 entries: 2
# GiB of guest each): data at 0 and at 5 GiB, so two tables, 512 KiB,
# of the L1's 32768 entries.
qemu-img create -q -f qed -o cluster_size=65536,table_size=4 b.qed 8G ||
    exit 1
qemu-io -c "write 0 1M" -c "write 5G 1M" b.qed >/dev/null || exit 1
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck b.qed"
line "imgcheck qed" out b.qed "512 KiB"

# The map: to a file, the line shows; to the terminal, the map is the
# output and nothing is drawn over it.
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgmap a.qcow2 >map.txt"
line "imgmap to a file" out a.qcow2 "512 KiB"
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgmap a.qcow2"
none out

# The extract walks the guest: 256 MiB.
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgmap --extract -o x.raw a.qcow2"
line "imgmap --extract" out a.qcow2 "256 MiB"
[ "$(stat -c %s x.raw)" = 268435456 ] || bad "extract: x.raw not 256 MiB"

# A repair into a new file copies the image first (269,107,200 bytes:
# 256 MiB of data, 128 L2 tables and the refcount metadata), then walks
# the copy: both show, under the image's name.
sz=$(stat -c %s a.qcow2)
[ "$sz" = 269107200 ] || bad "a.qcow2 is $sz bytes, the test assumes 269107200"
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgrepair -r all -o n.qcow2 a.qcow2"
line "imgrepair copy" out a.qcow2 "257 MiB"

# A sparse stream of 8 MiB: the bytes of the file.
"$mk/sparse_mk" big -s 8M s.stream >/dev/null || exit 1
ssz=$(stat -c %s s.stream)
want=$(python3 -c "
s = $ssz
print(('%0.3g KiB' % (s / 1024)) if s * 1.024 < 1 << 20 else
      ('%0.3g MiB' % (s / (1 << 20))))")
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck s.stream"
line "imgcheck stream" out s.stream "$want"

# An archive7 of 4 MiB: 1024 blocks of 4 KiB.
# The fixture writer's key.
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
"$mk/a7_mk" --big 4 s.ar7 >/dev/null || exit 1
asz=$(stat -c %s s.ar7)
[ $((asz % 4096)) = 0 ] || bad "s.ar7 is not whole blocks"
want=$(python3 -c "print('%0.3g MiB' % ($asz / (1 << 20)))")
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck --key-hex $KEY s.ar7"
line "imgcheck archive7" out s.ar7 "$want"

# A name longer than the terminal is cut from the left: the file's own
# name stays.
long=$(printf 'd%.0s' $(seq 100))
mkdir "$long" && cp a.qcow2 "$long/" || exit 1
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck $long/a.qcow2"
line "long name" out "$long/a.qcow2" "512 KiB"
grep -q "\.\.\.d*/a\.qcow2: " out || bad "long name: not cut from the left"

# No line: a quick run with the default delay (or a delay that is not a
# number), -q, JSON, stderr not a terminal.
tty out "$bin/imgcheck a.qcow2"
none out
tty out "IMGKIT_PROGRESS_DELAY=soon $bin/imgcheck a.qcow2"
none out
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck -q a.qcow2"
none out
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck --output=json a.qcow2"
none out
n=$((n + 1))
tr -d '\r' <out | python3 -c "import json, sys; json.load(sys.stdin)" ||
    bad "imgcheck --output=json on a terminal: not JSON alone"
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgcheck a.qcow2 2>err"
none out
none err
tty out "IMGKIT_PROGRESS_DELAY=0 $bin/imgrepair -q -r all -o q.qcow2 a.qcow2"
none out

if [ $fail -ne 0 ]; then
	echo "progress: $fail of $n checks failed"
	exit 1
fi
echo "progress: $n checks of the line on a terminal passed"
