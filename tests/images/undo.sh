#!/bin/sh
# SPDX-License-Identifier: MIT
# undo.sh --- an in-place repair keeps an undo file that puts every byte
# back; a repair that writes nothing leaves no undo file; a damaged undo
# file is refused before anything is written.
B=${B:-build}
for t in qemu-img qemu-io python3; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "undo: FAIL: $t not found (make deps)" >&2; exit 1; }
done
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "undo: $*"; exit 1; }
qemu-img create -q -f qed "$T/a.qed" 64M || fail "qemu-img create"
qemu-io -f qed -c 'write -P 0x11 0 64k' "$T/a.qed" >/dev/null || fail "qemu-io"
# NEED_CHECK plus an L1 entry that is not cluster aligned.
python3 - "$T/a.qed" <<'PY' || fail "poke"
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(16); f.write(struct.pack("<Q", 2))
    f.seek(0x10000 + 8); f.write(struct.pack("<Q", 0x123000))
PY
cp "$T/a.qed" "$T/orig.qed"
"$B/bin/imgrepair" -q -r all --in-place --undo "$T/u" "$T/a.qed"
[ $? -eq 0 ] || fail "repair did not end clean"
cmp -s "$T/a.qed" "$T/orig.qed" && fail "repair changed nothing"
[ -s "$T/u" ] || fail "no undo file"
"$B/bin/imgcheck" -q "$T/a.qed" || fail "repaired image does not check clean"
cp "$T/u" "$T/bad"
printf 'X' | dd of="$T/bad" bs=1 seek=8 conv=notrunc 2>/dev/null
cp "$T/a.qed" "$T/before-bad"
"$B/bin/imgrepair" -q --apply-undo="$T/bad" "$T/a.qed" 2>/dev/null &&
    fail "a damaged undo file was applied"
cmp -s "$T/a.qed" "$T/before-bad" || fail "a refused undo file wrote"
"$B/bin/imgrepair" -q --apply-undo="$T/u" "$T/a.qed" || fail "apply-undo"
cmp -s "$T/a.qed" "$T/orig.qed" || fail "undo did not restore every byte"
# A clean image: the repair writes nothing and leaves no undo file.
qemu-img create -q -f qed "$T/c.qed" 64M
"$B/bin/imgrepair" -q -r all --in-place --undo "$T/u2" "$T/c.qed" ||
    fail "repair of a clean image failed"
[ -e "$T/u2" ] && fail "undo file left by a repair that wrote nothing"
echo "undo: repair, undo and refusal behave"
exit 0
