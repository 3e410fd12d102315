#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh --- build the qcow2 fuzz harnesses with clang and run each for a while.
#
# Usage: sh tests/fuzz/run.sh [SECONDS [HARNESS...]]   (from the top of the
# tree; SECONDS defaults to 20, HARNESS to all of hdr snaptab bitmap image).
# Env: CLANG (default clang), FUZZ_OUT (keep binaries, corpora and crash
# files there instead of a temporary directory), JOBS (harnesses run at
# once, default 1), FUZZ_FLAGS (more libFuzzer options, e.g.
# "-fork=2 -ignore_crashes=1" to go on past a known crash).  Seeds are
# real images made with qemu-img and qemu-io when they are installed;
# nothing here goes into git.  Exits 1 when a harness finds a crash, leak,
# timeout or sanitizer error (see the crash-* files it names).
secs=${1:-20}
[ $# -gt 0 ] && shift
harnesses=${*:-hdr snaptab bitmap image}
CLANG=${CLANG:-clang}
FUZZ_FLAGS=${FUZZ_FLAGS:-}
JOBS=${JOBS:-1}
fail=0
PKGS="zlib json-c liblz4 libzstd libsodium libcrypto"

if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "fuzz: $CLANG not found (Debian: apt-get install -y clang)" >&2
	exit 1
fi
if [ ! -f libcore/libcore.h ]; then
	echo "fuzz: run me from the top of the imgkit tree" >&2
	exit 1
fi
if [ -n "$FUZZ_OUT" ]; then
	T=$FUZZ_OUT
	mkdir -p "$T" || exit 1
else
	T=$(mktemp -d "${TMPDIR:-/tmp}/imgfuzz.XXXXXX") || exit 1
	# Keep the directory when a harness failed: it holds the reproducer.
	trap '[ "$fail" = 0 ] && rm -rf "$T"' EXIT
fi
trap 'exit 1' INT TERM HUP

# be FILE OFFSET N: N bytes in hex; be32/be64 FILE OFFSET: a field's value.
be() {
	od -An -tx1 -v -j "$2" -N "$3" "$1" | tr -d ' \n'
}
be32() {
	printf '%d' "0x$(be "$1" "$2" 4)"
}
be64() {
	printf '%d' "0x$(be "$1" "$2" 8)"
}
# cut1 FILE OFFSET COUNT: copy those bytes to stdout.
cut1() {
	dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null
}

# ---- build -----------------------------------------------------------
cflags="-std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -g -O1 \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fno-omit-frame-pointer -Ilibcore -Itests"
depc=$(pkg-config --cflags $PKGS 2>/dev/null)
depl=$(pkg-config --libs $PKGS 2>/dev/null || \
    echo "-lz -ljson-c -llz4 -lzstd -lsodium -lcrypto")
for h in $harnesses; do
	echo "fuzz: building fuzz_qcow2_$h"
	# shellcheck disable=SC2086
	"$CLANG" $cflags $depc -o "$T/fuzz_qcow2_$h" \
	    "tests/fuzz/fuzz_qcow2_$h.c" libcore/*/*.c $depl || exit 1
done

# ---- seeds -----------------------------------------------------------
S=$T/seeds
mkdir -p "$S/img" "$S/hdr" "$S/snaptab" "$S/bitmap"
if command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1
then
	n=0
	for spec in "2 512 256k" "3 512 512k" "3 4096 1M" "3 65536 4M" \
	    "2 4096 1M" "3 4096 2M refcount_bits=1" \
	    "3 4096 1M refcount_bits=64" "3 65536 2M extended_l2=on" \
	    "3 4096 1M lazy_refcounts=on"; do
		set -- $spec
		n=$((n + 1))
		f=$S/img/seed$n.qcow2
		o="compat=$([ "$1" = 2 ] && echo 0.10 || echo 1.1)"
		o="$o,cluster_size=$2${4:+,$4}"
		qemu-img create -q -f qcow2 -o "$o" "$f" "$3" || continue
		qemu-io -c 'write -P 0x11 0 8k' -c 'write -z 64k 4k' \
		    -c 'write -P 0x22 128k 4k' "$f" >/dev/null 2>&1
		if [ $((n % 2)) = 0 ]; then
			# (refcount_bits=1 cannot hold a snapshot: skipped)
			qemu-img snapshot -c snap1 "$f" 2>/dev/null
			qemu-io -c 'write -P 0x33 4k 4k' "$f" >/dev/null 2>&1
			qemu-img snapshot -c snap2 "$f" 2>/dev/null
		fi
		if [ "$1" = 3 ] && [ $((n % 3)) != 0 ]; then
			qemu-img bitmap --add "$f" bm0 2>/dev/null
			qemu-img bitmap --add -g 65536 "$f" bm1 2>/dev/null
			qemu-io -c 'write -P 0x44 16k 4k' "$f" >/dev/null 2>&1
		fi
		if [ $n = 5 ]; then
			qemu-io -c 'write -c -P 0x55 0 4k' "$f" \
			    >/dev/null 2>&1
		fi
		# Cluster 0 seeds the header harness.
		cut1 "$f" 0 "$2" >"$S/hdr/seed$n"
		# Snapshot table: count, version, then the table bytes.
		nb=$(be32 "$f" 60)
		so=$(be64 "$f" 64)
		if [ "$nb" -gt 0 ]; then
			{ cut1 "$f" 60 4; cut1 "$f" 7 1; cut1 "$f" "$so" 4096
			} >"$S/snaptab/seed$n"
		fi
		# Bitmap directory: count, cluster bits, disk size, directory.
		[ "$1" = 3 ] || continue
		p=$(be32 "$f" 100)
		while [ $((p + 8)) -le "$2" ]; do
			t=$(be "$f" "$p" 4)
			l=$(be32 "$f" $((p + 4)))
			[ "$t" = 00000000 ] && break
			if [ "$t" = 23852875 ]; then
				ds=$(be64 "$f" $((p + 16)))
				doff=$(be64 "$f" $((p + 24)))
				{ cut1 "$f" $((p + 8)) 4; cut1 "$f" 23 1
				  cut1 "$f" 24 8; cut1 "$f" "$doff" "$ds"
				} >"$S/bitmap/seed$n"
			fi
			p=$((p + 8 + (l + 7) / 8 * 8))
		done
	done
else
	echo "fuzz: qemu-img/qemu-io not found, starting without seeds"
fi

# ---- run -------------------------------------------------------------
run1() {
	h=$1
	c=$T/corpus/$h
	mkdir -p "$c" "$T/crash/$h"
	before=$(ls "$T/crash/$h" | wc -l)
	case $h in
	image) seed=$S/img ;;
	*) seed=$S/$h ;;
	esac
	echo "fuzz: running fuzz_qcow2_$h for ${secs}s"
	"$T/fuzz_qcow2_$h" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=1024 -max_len=2097152 -print_final_stats=1 \
	    -artifact_prefix="$T/crash/$h/" $FUZZ_FLAGS "$c" "$seed" \
	    >"$T/fuzz_qcow2_$h.log" 2>&1
	rc=$?
	grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' \
	    "$T/fuzz_qcow2_$h.log" | sed "s/^/fuzz: $h: /"
	# In fork mode with -ignore_crashes, a crash leaves only a file.
	if [ $rc -eq 0 ] && [ "$(ls "$T/crash/$h" | wc -l)" -ne "$before" ]
	then
		rc=1
	fi
	if [ $rc -ne 0 ]; then
		echo "fuzz: fuzz_qcow2_$h failed (exit $rc); log and" \
		    "reproducer in $T" >&2
		tail -40 "$T/fuzz_qcow2_$h.log" >&2
		return 1
	fi
	return 0
}
i=0
pids=
for h in $harnesses; do
	if [ "$JOBS" -le 1 ]; then
		run1 "$h" || fail=1
	else
		run1 "$h" &
		pids="$pids $!"
		i=$((i + 1))
		if [ $((i % JOBS)) = 0 ]; then
			for p in $pids; do wait "$p" || fail=1; done
			pids=
		fi
	fi
done
for p in $pids; do wait "$p" || fail=1; done
[ $fail = 0 ] && echo "fuzz: no crashes"
exit $fail
