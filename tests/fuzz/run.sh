#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh --- build the fuzz harnesses (make fuzz), make seed corpora and
# run each harness for a while.
#
# Usage: sh tests/fuzz/run.sh [SECONDS [HARNESS...]]   (from the top of the
# tree; SECONDS defaults to 20).  HARNESS is a file name without fuzz_ and
# .c: qcow2_hdr qcow2_snaptab qcow2_bitmap qcow2_image qed_image
# sparse_image a7_image (default: all); the short names hdr, snaptab,
# bitmap, image, qcow2, qed, sparse and a7 work too.
# Env: CLANG (default clang), FUZZ_OUT (keep corpora, seeds and crash
# files there instead of a temporary directory), JOBS (harnesses run at
# once, default 1), NICE (nice level, default 0), FUZZ_FLAGS (more
# libFuzzer options, e.g. "-fork=2 -ignore_crashes=1" to go on past a
# known crash), SEEDS_ONLY=1 (make the seeds and stop).  Seeds come from
# the fixture writers (build/tests/bin/*_mk), tests/fuzz/regress/, and
# qemu-img/qemu-io images when qemu is installed; nothing here goes into
# git.  Exits 1 when a harness finds a crash, leak, timeout or sanitizer
# error (see the crash-* files it names).
secs=${1:-20}
[ $# -gt 0 ] && shift
all="qcow2_hdr qcow2_snaptab qcow2_bitmap qcow2_image qed_image \
sparse_image a7_image"
harnesses=
for h in ${*:-$all}; do
	case $h in
	hdr|snaptab|bitmap|image) h=qcow2_$h ;;
	qcow2|qed|sparse|a7) h=${h}_image ;;
	esac
	if [ ! -f "tests/fuzz/fuzz_$h.c" ]; then
		echo "fuzz: no harness tests/fuzz/fuzz_$h.c" >&2
		exit 1
	fi
	harnesses="$harnesses $h"
done
CLANG=${CLANG:-clang}
MAKE=${MAKE:-make}
FUZZ_FLAGS=${FUZZ_FLAGS:-}
JOBS=${JOBS:-1}
NICE=${NICE:-0}
fail=0
BIN=build/fuzz
MK=build/tests/bin

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
# qio FILE CMD...: qemu-io writes, quietly.
qio() {
	f=$1
	shift
	for c in "$@"; do
		set -- "$@" -c "$c"
		shift
	done
	qemu-io "$@" "$f" >/dev/null 2>&1
}

# ---- build -----------------------------------------------------------
echo "fuzz: make fuzz"
"$MAKE" --no-print-directory CLANG="$CLANG" fuzz all >/dev/null || exit 1

# ---- seeds -----------------------------------------------------------
S=$T/seeds
mkdir -p "$S/qcow2_image" "$S/qcow2_hdr" "$S/qcow2_snaptab" \
    "$S/qcow2_bitmap" "$S/qed_image" "$S/sparse_image" "$S/a7_image"
HAVE_QEMU=0
command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1 &&
    HAVE_QEMU=1

# qcow2: the fixture writer's three samples, then qemu-img images of
# every layout, cut into header, snapshot-table and bitmap seeds.
for k in clean corrupt leak; do
	"$MK/qcow2_mk" "$k" "$S/qcow2_image/mk-$k.qcow2" >/dev/null 2>&1
done
if [ $HAVE_QEMU = 1 ]; then
	n=0
	for spec in "2 512 256k" "3 512 512k" "3 4096 1M" "3 65536 4M" \
	    "2 4096 1M" "3 4096 2M refcount_bits=1" \
	    "3 4096 1M refcount_bits=64" "3 65536 2M extended_l2=on" \
	    "3 4096 1M lazy_refcounts=on"; do
		set -- $spec
		n=$((n + 1))
		f=$S/qcow2_image/seed$n.qcow2
		o="compat=$([ "$1" = 2 ] && echo 0.10 || echo 1.1)"
		o="$o,cluster_size=$2${4:+,$4}"
		qemu-img create -q -f qcow2 -o "$o" "$f" "$3" || continue
		qio "$f" 'write -P 0x11 0 8k' 'write -z 64k 4k' \
		    'write -P 0x22 128k 4k'
		if [ $((n % 2)) = 0 ]; then
			# (refcount_bits=1 cannot hold a snapshot: skipped)
			qemu-img snapshot -c snap1 "$f" 2>/dev/null
			qio "$f" 'write -P 0x33 4k 4k'
			qemu-img snapshot -c snap2 "$f" 2>/dev/null
		fi
		if [ "$1" = 3 ] && [ $((n % 3)) != 0 ]; then
			qemu-img bitmap --add "$f" bm0 2>/dev/null
			qemu-img bitmap --add -g 65536 "$f" bm1 2>/dev/null
			qio "$f" 'write -P 0x44 16k 4k'
		fi
		if [ $n = 5 ]; then
			qio "$f" 'write -c -P 0x55 0 4k'
		fi
		# Cluster 0 seeds the header harness.
		cut1 "$f" 0 "$2" >"$S/qcow2_hdr/seed$n"
		# Snapshot table: count, version, then the table bytes.
		nb=$(be32 "$f" 60)
		so=$(be64 "$f" 64)
		if [ "$nb" -gt 0 ]; then
			{ cut1 "$f" 60 4; cut1 "$f" 7 1; cut1 "$f" "$so" 4096
			} >"$S/qcow2_snaptab/seed$n"
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
				} >"$S/qcow2_bitmap/seed$n"
			fi
			p=$((p + 8 + (l + 7) / 8 * 8))
		done
	done

	# QED: cluster and table sizes, written, zeroed and backed images,
	# one with the need-check bit set.
	n=0
	for spec in "65536 1 4M" "4096 4 4M" "65536 4 8M" "65536 16 64M" \
	    "1048576 1 64M"; do
		set -- $spec
		n=$((n + 1))
		f=$S/qed_image/seed$n.qed
		qemu-img create -q -f qed -o "cluster_size=$1,table_size=$2" \
		    "$f" "$3" || continue
		qio "$f" 'write -P 0x11 0 8k' 'write -z 64k 4k' \
		    'write -P 0x22 128k 4k' 'write -P 0x33 512k 4k'
	done
	f=$S/qed_image/seed-backed.qed
	qemu-img create -q -f qed -o backing_file=seed2.qed,backing_fmt=qed \
	    "$f" 1M 2>/dev/null && qio "$f" 'write -P 0x44 4k 4k'
	f=$S/qed_image/seed-dirty.qed
	if cp "$S/qed_image/seed2.qed" "$f" 2>/dev/null; then
		# features (offset 16) |= QED_F_NEED_CHECK (2)
		printf '\002' | dd of="$f" bs=1 seek=16 conv=notrunc \
		    2>/dev/null
	fi
else
	echo "fuzz: qemu-img/qemu-io not found: no qemu seeds"
fi

# Sparse streams: the standard stream in each variant and every defect
# of the fixture table.
for v in "" -z -i "-i -z" "-c 4096" "-z -c 65536"; do
	# shellcheck disable=SC2086
	"$MK/sparse_mk" std $v \
	    "$S/sparse_image/std$(echo "$v" | tr -d ' ').sparse" 2>/dev/null
done
"$MK/sparse_mk" list 2>/dev/null | while read -r d _; do
	"$MK/sparse_mk" defect "$d" "$S/sparse_image/defect-$d.sparse" \
	    2>/dev/null
done

# archive7: each defect, with the key (first byte 01) and one without
# (00); see fuzz_a7_image.c.
for d in clean cut cycle orphan-blank stale mac half-append; do
	if "$MK/a7_mk" "$T/a7.tmp" "$d" >/dev/null 2>&1; then
		{ printf '\001'; cat "$T/a7.tmp"; } >"$S/a7_image/key-$d"
		[ "$d" = clean ] &&
		    { printf '\000'; cat "$T/a7.tmp"; } >"$S/a7_image/nokey-$d"
	fi
done
rm -f "$T/a7.tmp"

# Past findings and the checked-in seeds of tests/fuzz/regress/.
for d in tests/fuzz/regress/*/; do
	[ -d "$d" ] || continue
	fmt=$(basename "$d")
	[ -d "$S/${fmt}_image" ] && cp "$d"* "$S/${fmt}_image/" 2>/dev/null
done
for d in "$S"/*/; do
	echo "fuzz: seeds $(basename "$d"): $(ls "$d" | wc -l)"
done
[ -n "$SEEDS_ONLY" ] && exit 0

# ---- run -------------------------------------------------------------
run1() {
	h=$1
	c=$T/corpus/$h
	mkdir -p "$c" "$T/crash/$h"
	before=$(ls "$T/crash/$h" | wc -l)
	echo "fuzz: running fuzz_$h for ${secs}s"
	nice -n "$NICE" "$BIN/fuzz_$h" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=1024 -max_len=4194304 -print_final_stats=1 \
	    -artifact_prefix="$T/crash/$h/" $FUZZ_FLAGS "$c" "$S/$h" \
	    >"$T/fuzz_$h.log" 2>&1
	rc=$?
	grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' \
	    "$T/fuzz_$h.log" | sed "s/^/fuzz: $h: /"
	# In fork mode with -ignore_crashes, a crash leaves only a file.
	if [ $rc -eq 0 ] && [ "$(ls "$T/crash/$h" | wc -l)" -ne "$before" ]
	then
		rc=1
	fi
	if [ $rc -ne 0 ]; then
		echo "fuzz: fuzz_$h failed (exit $rc); log and" \
		    "reproducer in $T" >&2
		tail -40 "$T/fuzz_$h.log" >&2
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
