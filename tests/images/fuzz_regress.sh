#!/bin/sh
# SPDX-License-Identifier: MIT
# fuzz_regress.sh --- replay every input kept in tests/fuzz/regress/ (past
# fuzzer crashes, timeouts and leaks, and a few seed images) through the
# whole-image harnesses, built without libFuzzer as
# $B/tests/fuzz/replay_<fmt>_image (make check builds them; with SAN=1
# they run under ASan and UBSan).  Each file runs alone, so a failure
# names it; a crash, a sanitizer report or more than FUZZ_REPLAY_SECS
# seconds (default 60) is a failure.  V=1 names every file.
B=${B:-build}
R=tests/fuzz/regress
secs=${FUZZ_REPLAY_SECS:-60}
fail=0
n=0
if [ ! -d "$R" ]; then
	echo "fuzz_regress.sh: FAIL: run me from the top of the tree" >&2
	exit 1
fi
# Leak checking is on by default with ASan; make it explicit, and make
# UBSan fatal even if the environment says otherwise.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS
to=
command -v timeout >/dev/null 2>&1 && to="timeout $secs"
for d in "$R"/*/; do
	fmt=$(basename "$d")
	bin=$B/tests/fuzz/replay_${fmt}_image
	if [ ! -x "$bin" ]; then
		echo "fuzz_regress.sh: FAIL: $bin not built" >&2
		fail=1
		continue
	fi
	for f in "$d"*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		[ -n "$V" ] && echo "fuzz_regress.sh: $f"
		if ! $to "$bin" "$f" >"${TMPDIR:-/tmp}/fuzz_regress.$$" 2>&1
		then
			echo "fuzz_regress.sh: FAIL: $fmt: $f" >&2
			tail -30 "${TMPDIR:-/tmp}/fuzz_regress.$$" >&2
			fail=1
		fi
	done
done
rm -f "${TMPDIR:-/tmp}/fuzz_regress.$$"
if [ $n = 0 ]; then
	echo "fuzz_regress.sh: FAIL: no inputs in $R" >&2
	exit 1
fi
[ $fail = 0 ] && echo "fuzz_regress.sh: $n inputs replayed, no failures"
exit $fail
