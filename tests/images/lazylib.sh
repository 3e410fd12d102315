#!/bin/sh
# SPDX-License-Identifier: MIT
# lazylib.sh --- libcrypto and libsodium are opened only when a tool
# needs them (libcore/core/crypto.c): a qcow2 or QED check never loads
# them, an archive7 check does; every tool names them in its ELF
# .note.dlopen, by the sonames that programs linking them resolve; and a
# library that is there but not usable gives a clear error, never a
# crash, and an in-place repair that cannot keep its undo file changes
# nothing.
B=${B:-build}
bin=$B/bin
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
for t in qemu-img qemu-io readelf cc; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "lazylib: FAIL: $t not found (make deps)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/lazylib.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
n=0
fail=0
bad() { echo "lazylib: FAIL: $*"; fail=$((fail + 1)); }

# loaded NAME LIB COMMAND...: LIB (a soname stem) was mapped by COMMAND.
loaded() {
	name=$1 lib=$2
	shift 2
	n=$((n + 1))
	LD_DEBUG=files "$@" >/dev/null 2>"$T/ld"
	grep -q "file=$lib" "$T/ld" || bad "$name: $lib not loaded"
}

# not_loaded NAME LIB COMMAND...: LIB was not mapped by COMMAND.
not_loaded() {
	name=$1 lib=$2
	shift 2
	n=$((n + 1))
	LD_DEBUG=files "$@" >/dev/null 2>"$T/ld"
	grep -q "file=$lib" "$T/ld" && bad "$name: $lib loaded"
	grep -q "file=" "$T/ld" || bad "$name: LD_DEBUG printed nothing"
}

qemu-img create -q -f qcow2 "$T/a.qcow2" 64M || exit 1
qemu-io -f qcow2 -c 'write -P 0x5a 0 1M' "$T/a.qcow2" >/dev/null || exit 1
qemu-img create -q -f qed "$T/a.qed" 64M || exit 1
qemu-io -f qed -c 'write -P 0x5a 0 1M' "$T/a.qed" >/dev/null || exit 1
"$B/tests/bin/a7_mk" "$T/a.ar7" clean || { bad "a7_mk"; exit 1; }
# A QED image whose repair writes (NEED_CHECK set), so it keeps an undo.
qemu-img create -q -f qed "$T/b.qed" 64M || exit 1
qemu-io -f qed -c 'write -P 0x11 0 64k' "$T/b.qed" >/dev/null || exit 1
printf '\002' | dd of="$T/b.qed" bs=1 seek=16 conv=notrunc 2>/dev/null
cp "$T/b.qed" "$T/b.orig"

for lib in libcrypto libsodium; do
	not_loaded "imgcheck qcow2" $lib "$bin/imgcheck" "$T/a.qcow2"
	not_loaded "imgcheck qed" $lib "$bin/imgcheck" "$T/a.qed"
	not_loaded "imgmap qcow2" $lib "$bin/imgmap" --output=json "$T/a.qcow2"
	not_loaded "imginfo qed" $lib "$bin/imginfo" "$T/a.qed"
	not_loaded "imgrepair dry run" $lib "$bin/imgrepair" -r all \
	    --dry-run "$T/a.qcow2"
	loaded "imgcheck archive7" $lib "$bin/imgcheck" --key-hex "$KEY" \
	    "$T/a.ar7"
	cp "$T/b.orig" "$T/c.qed"
	loaded "imgrepair --in-place (undo digest)" $lib "$bin/imgrepair" \
	    -q -r all --in-place --undo "$T/u0-$lib" "$T/c.qed"
done
n=$((n + 1))
[ -s "$T/u0-libcrypto" ] || bad "the in-place repair kept no undo file"
n=$((n + 1))
"$bin/imgcheck" -q --key-hex "$KEY" "$T/a.ar7" ||
    bad "archive7 check with the libraries opened late is not clean"

# The note: the same sonames a program that links them resolves.
want=$(ldd "$B/tests/bin/a7_mk" | awk '$1 ~ /^lib(crypto|sodium)\.so/ \
    { print $1 }' | sort | tr '\n' ' ')
[ -n "$want" ] || bad "a7_mk links neither libcrypto nor libsodium"
for t in imginfo imgcheck imgmap imgrepair; do
	n=$((n + 1))
	readelf -p .note.dlopen "$bin/$t" > "$T/note" 2>&1 ||
	    { bad "$t has no .note.dlopen"; continue; }
	got=$(grep -o '"lib[a-z]*\.so\.[0-9.]*"' "$T/note" | tr -d '"' |
	    sort | tr '\n' ' ')
	[ "$got" = "$want" ] || bad "$t .note.dlopen names '$got', want '$want'"
	readelf -n "$bin/$t" | grep -q 'FDO.*0x407c0c0a' ||
	    bad "$t: the note is not of type FDO_DLOPEN"
	n=$((n + 1))
	ldd "$bin/$t" | grep -q 'lib\(crypto\|sodium\)' &&
	    bad "$t links libcrypto or libsodium at start-up"
done

# A libcrypto that loads but lacks the functions: a clear error.
mkdir "$T/lib"
crypto_so=$(printf '%s\n' $want | grep libcrypto)
echo 'int imgkit_not_libcrypto;' > "$T/stub.c"
cc -shared -fPIC -Wl,-soname,"$crypto_so" -o "$T/lib/$crypto_so" \
    "$T/stub.c" || { bad "cannot build the stub library"; exit 1; }
n=$((n + 1))
LD_LIBRARY_PATH=$T/lib "$bin/imgcheck" --key-hex "$KEY" "$T/a.ar7" \
    >"$T/out" 2>&1
rc=$?
[ $rc -ge 1 ] && [ $rc -lt 128 ] || bad "stub libcrypto: exit $rc"
grep -q "has no EVP_" "$T/out" ||
    bad "stub libcrypto: no reason given: $(cat "$T/out")"
n=$((n + 1))
LD_LIBRARY_PATH=$T/lib "$bin/imgcheck" -q "$T/a.qcow2" ||
    bad "stub libcrypto: a qcow2 check needs no crypto yet failed"

# An in-place repair that cannot hash for its undo file writes nothing.
n=$((n + 1))
LD_LIBRARY_PATH=$T/lib "$bin/imgrepair" -q -r all --in-place \
    --undo "$T/u1" "$T/b.qed" >"$T/out" 2>&1
rc=$?
[ $rc -ne 0 ] || bad "repair without a usable libcrypto succeeded"
grep -q "cannot keep the undo file: .*has no EVP_" "$T/out" ||
    bad "repair without a usable libcrypto: no reason: $(cat "$T/out")"
cmp -s "$T/b.qed" "$T/b.orig" ||
    bad "repair without a usable libcrypto changed the image"
[ -e "$T/u1" ] && bad "repair without a usable libcrypto left $T/u1"

echo "lazylib: $((n - fail))/$n passed"
[ $fail -eq 0 ]
