#!/bin/sh
# SPDX-License-Identifier: MIT
# viewer.sh --- imgcheck --tui and imgmap --tui driven in tmux on a fixture
# of each format (qcow2, QED, sparse stream, archive7): the legend, a known
# decoded field and a known finding code are on the screen; g and an
# offset show a hex row starting there; Enter on a finding moves the hex
# pane to the bytes at fault (the entry, for a bad pointer); ? shows the
# help; q exits 0 with the terminal restored (stty settings as before,
# the normal screen back); SIGINT and SIGTERM restore it too; --tui
# without a terminal exits 1 with one line; 80x24 and a resize draw.
# A missing tmux is a failure.  V=1 prints the screens of failures.
B=${B:-build}
BIN=$B/bin
TB=$B/tests/bin
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
for t in "$BIN/imgcheck" "$BIN/imgmap" "$TB/qcow2_mk" "$TB/qed_mk" \
    "$TB/sparse_mk" "$TB/a7_mk"; do
	if [ ! -x "$t" ]; then
		echo "viewer.sh: FAIL: $t not built" >&2
		exit 1
	fi
done
if ! command -v tmux >/dev/null 2>&1; then
	echo "viewer.sh: FAIL: tmux not found (make deps installs it)" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/viewersh.XXXXXX") || exit 1
# A private server for each session (no user configuration, a terminal
# type every system has), killed when the session is done with.
printf 'set -g default-terminal screen\nset -g status off\n' > "$T/tmux.conf"
k=0
TM="tmux -L imgkit-viewer-$$-$k -f $T/tmux.conf"
cleanup() {
	$TM kill-server >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
n=0
bad=0

fail() {
	bad=$((bad + 1))
	echo "viewer.sh: FAIL $1" >&2
	if [ -n "$V" ] && [ -f "$T/screen" ]; then
		sed 's/^/    |/' "$T/screen" >&2
	fi
}

# The program runs under a wrapper that records the tty settings before
# and after, and its exit status, then stays so the screen can be read.
cat > "$T/run.sh" <<'EOF'
#!/bin/sh
d=$1
shift
# The program's signals are its own: the wrapper lives on to report.
trap : INT TERM HUP
stty -g > "$d/stty.before"
"$@"
echo $? > "$d/exit.tmp"
stty -g > "$d/stty.after"
mv "$d/exit.tmp" "$d/exit"
echo "viewer-exited"
exec sleep 600
EOF

# start COLS ROWS CMD...: a new session running CMD under the wrapper.
start() {
	cols=$1 rows=$2
	shift 2
	$TM kill-server >/dev/null 2>&1
	k=$((k + 1))
	TM="tmux -L imgkit-viewer-$$-$k -f $T/tmux.conf"
	rm -f "$T/exit" "$T/stty.before" "$T/stty.after" "$T/screen"
	$TM new-session -d -s v -x "$cols" -y "$rows" \
	    "sh $T/run.sh $T $*" || { fail "tmux new-session"; return 1; }
}

screen() {
	$TM capture-pane -p -t v > "$T/screen" 2>/dev/null
}

# wait_for TEXT [SECONDS]: until the screen holds TEXT (fixed string).
wait_for() {
	i=0
	lim=$(( ${2:-10} * 10 ))
	while [ $i -lt "$lim" ]; do
		screen
		grep -qF -- "$1" "$T/screen" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# expect NAME TEXT: the screen shows TEXT (waiting a little for it).
expect() {
	n=$((n + 1))
	wait_for "$2" 5 || fail "$1: screen lacks '$2'"
}

keys() {
	$TM send-keys -t v "$@"
}

typed() {
	$TM send-keys -t v -l "$1"
}

# quit NAME WANT: q, then the exit status and a restored terminal.
quit() {
	keys q
	ended "$1" "${2:-0}"
}

# ended NAME WANT: the program is gone with status WANT, tty restored.
ended() {
	n=$((n + 1))
	i=0
	while [ ! -f "$T/exit" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ ! -f "$T/exit" ]; then
		fail "$1: still running"
		return
	fi
	[ "$(cat "$T/exit")" = "$2" ] ||
	    fail "$1: exit $(cat "$T/exit"), want $2"
	n=$((n + 1))
	cmp -s "$T/stty.before" "$T/stty.after" ||
	    fail "$1: terminal settings not restored"
	n=$((n + 1))
	wait_for viewer-exited 5 ||
	    fail "$1: the normal screen is not back"
}

# widths NAME COLS: no screen line is wider than COLS.
widths() {
	n=$((n + 1))
	screen
	awk -v w="$2" 'length($0) > w { bad = 1 } END { exit bad }' \
	    "$T/screen" || fail "$1: a line is wider than $2 columns"
}

# hexat OFF: how the hex pane's title names offset OFF (8 digits here).
hexat() {
	printf 'Hex 0x%08x:' "$1"
}

# The first finding's entry at fault (entry-offset, else host-offset).
first_at() {
	"$BIN/imgcheck" --json "$@" 2>/dev/null | python3 -c '
import json, sys
f = json.loads(sys.stdin.readline())["findings"][0]
print(f.get("entry-offset", f.get("host-offset")))'
}

# viewcase NAME FILE OPTS FIELD CODE GOTO ROWFIELD: one format's round.
viewcase() {
	name=$1 file=$2 opts=$3 field=$4 code=$5 go=$6 rowfield=$7
	# shellcheck disable=SC2086
	at=$(first_at $opts "$file")
	if [ -z "$at" ]; then
		fail "$name: imgcheck found nothing to go to"
		return
	fi
	start 100 30 "$BIN/imgcheck" --tui $opts "$file" || return
	expect "$name: legend" "legend:"
	expect "$name: decoded field" "$field"
	expect "$name: finding code" "$code"
	expect "$name: check done" "Findings: "
	# Enter on the first finding: the hex pane at its bytes.
	keys Enter
	expect "$name: Enter on a finding" "$(hexat "$at")"
	# g and an offset: a row starting there, its field decoded.
	keys g
	typed "$go"
	keys Enter
	expect "$name: g $go" "$(printf '%08x  ' "$go")"
	[ -n "$rowfield" ] && expect "$name: field at $go" "$rowfield"
	# Backspace goes back to the finding's bytes.
	keys BSpace
	expect "$name: Backspace" "$(hexat "$at")"
	keys '?'
	expect "$name: help" "Keys (any key closes this help)"
	expect "$name: help lists q" "q                quit"
	keys Escape
	quit "$name: q"
}

"$TB/qcow2_mk" corrupt "$T/c.qcow2" &&
    "$TB/qed_mk" past-eof "$T/p.qed" &&
    "$TB/sparse_mk" defect bad-kind "$T/k.data" &&
    "$TB/a7_mk" "$T/m.ar7" mac ||
    { echo "viewer.sh: FAIL: cannot make the fixtures" >&2; exit 1; }

viewcase qcow2 "$T/c.qcow2" "" "header.magic = 0x514649fb" \
    qcow2-refcount-short 0x40080 "L2[16] = 0x8000000000060000"
viewcase qed "$T/p.qed" "" "header.magic = 0x444551" \
    qed-data-past-eof 0x60080 "L2[16] = 0x4000000"
viewcase sparse "$T/k.data" "" "meta.kind" sparse-bad-kind 0x11c0 \
    "frame[2].separator: space"
viewcase archive7 "$T/m.ar7" "--key-hex $KEY" "block[0].nonce" \
    a7-decrypt-failed 0xd000 "block[13].nonce"

# The host map, a search and a pointer followed (qcow2).
start 100 30 "$BIN/imgmap" --tui --host "$T/c.qcow2"
expect "host map" "Map: host file"
expect "host map legend" "2 l2"
keys /
typed "0x8000000000060000"
keys Enter
expect "search hex" "found at 0x40080"
expect "search lands on the entry" "L2[16] = 0x8000000000060000"
keys Enter
expect "Enter follows the pointer" "$(hexat 0x60000)"
keys g
typed 4KiB
keys Enter
expect "g with a suffix" "00001000  "
keys m
expect "m: the guest map" "Map: guest disk"
quit "imgmap --host q"

# A snapshot record and a bitmap directory entry of qemu's making: g to
# each, its field decoded, Enter follows its pointer.
qemu-img create -q -f qcow2 "$T/s.qcow2" 64M &&
    qemu-io -f qcow2 -c "write -P 0x5a 0 64k" "$T/s.qcow2" > /dev/null &&
    qemu-img snapshot -c before "$T/s.qcow2" &&
    qemu-img bitmap --add "$T/s.qcow2" b0 ||
    { echo "viewer.sh: FAIL: cannot make the snapshot image" >&2; exit 1; }
set -- $(python3 - "$T/s.qcow2" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
snap = struct.unpack(">Q", b[64:72])[0]
sl1 = struct.unpack(">Q", b[snap:snap + 8])[0]
pos = struct.unpack(">I", b[100:104])[0]
while True:
    t, n = struct.unpack(">II", b[pos:pos + 8])
    if t in (0, 0x23852875):
        break
    pos += 8 + (n + 7) // 8 * 8
d = struct.unpack(">Q", b[pos + 24:pos + 32])[0]
tab = struct.unpack(">Q", b[d:d + 8])[0]
print(snap, sl1, d, tab)
PY
)
start 100 30 "$BIN/imgcheck" --tui "$T/s.qcow2"
expect "snapshot image: check done" "Findings: "
keys g
typed "$1"
keys Enter
expect "g to the snapshot table" \
    "snapshot[0].l1_table_offset = $(printf '0x%x' "$2")"
keys Enter
expect "Enter follows the snapshot's L1" "$(hexat "$2")"
keys g
typed "$3"
keys Enter
expect "g to the bitmap directory" \
    "bitmap_dir[0].bitmap_table_offset = $(printf '0x%x' "$4")"
keys g
typed "$(($3 + 17))"
keys Enter
expect "the bitmap's granularity" "granularity 65536 bytes"
quit "snapshot image q"

# 80x24, then a resize to 80x24 and to 120x40.
start 80 24 "$BIN/imgmap" --tui "$T/c.qcow2"
expect "80x24: legend" "legend:"
expect "80x24: keys" "q quit"
expect "80x24: findings" "qcow2-refcount-short"
widths "80x24" 80
$TM resize-window -t v -x 120 -y 40 >/dev/null 2>&1
expect "resize 120x40: legend" "legend:"
expect "resize 120x40: hex" "00000000  51 46 49 fb"
n=$((n + 1))
screen
[ "$(wc -l < "$T/screen")" -ge 39 ] || fail "resize 120x40: not redrawn"
$TM resize-window -t v -x 80 -y 24 >/dev/null 2>&1
sleep 0.3
expect "resize 80x24: keys" "q quit"
expect "resize 80x24: hex" "00000000  51 46 49 fb"
widths "resize 80x24" 80
quit "80x24 q"

# Signals: the terminal comes back, the status says which.
start 100 30 "$BIN/imgmap" --tui "$T/c.qcow2"
expect "SIGINT: up" "legend:"
keys C-c
ended "SIGINT" 130
start 100 30 "$BIN/imgmap" --tui "$T/c.qcow2"
expect "SIGTERM: up" "legend:"
pid=$(ps -o pid= --ppid "$($TM display -p -t v '#{pane_pid}')" | head -1)
kill -TERM $pid 2>/dev/null
ended "SIGTERM" 143

# NO_COLOR and a monochrome terminal still draw every pane.
start 100 30 env NO_COLOR=1 TERM=vt100 "$BIN/imgcheck" --tui "$T/c.qcow2"
expect "monochrome: legend" "legend:"
expect "monochrome: field" "header.magic"
quit "monochrome q"

# Without a terminal: one line on stderr, exit 1.
for t in imgcheck imgmap; do
	n=$((n + 1))
	"$BIN/$t" --tui "$T/c.qcow2" < /dev/null > "$T/out" 2> "$T/err"
	rc=$?
	if [ $rc -ne 1 ] || [ "$(wc -l < "$T/err")" -ne 1 ] ||
	    ! grep -q "terminal" "$T/err"; then
		fail "$t --tui without a terminal: exit $rc, $(cat "$T/err")"
	fi
done

if [ $bad -ne 0 ]; then
	echo "viewer.sh: $bad of $n checks failed" >&2
	exit 1
fi
echo "viewer: $n checks of the tui in tmux passed (4 formats)"
