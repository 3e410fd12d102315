#!/bin/sh
# SPDX-License-Identifier: MIT
# run-images.sh --- run every image and differential test script
# (tests/images/*.sh), then leave the CUnit summary to the runner.
#
# The scripts are independent, so they run side by side, TEST_JOBS at a
# time (default: the number of CPUs), the slowest first; each one's
# output is kept and printed whole, in name order, with its time.
B=${B:-build}
export B
J=${TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
T=$(mktemp -d "${TMPDIR:-/tmp}/run-images.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# The long ones first, so the others fill in around them.
first="hostile safety qcow2_repair mapdiff qed"
{
	for n in $first; do
		[ -f "tests/images/$n.sh" ] && echo "tests/images/$n.sh"
	done
	for t in tests/images/*.sh; do
		case " $first " in *" $(basename "$t" .sh) "*) continue ;; esac
		[ -f "$t" ] && echo "$t"
	done
} | xargs -P "$J" -n 1 sh -c '
	n=$(basename "$1" .sh)
	s=$(date +%s)
	sh "$1" > "$0/$n.log" 2>&1
	echo $? > "$0/$n.rc"
	echo $(( $(date +%s) - s )) > "$0/$n.time"
' "$T"

fail=0
for t in tests/images/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	cat "$T/$n.log" 2>/dev/null
	rc=$(cat "$T/$n.rc" 2>/dev/null || echo "not run")
	if [ "$rc" != 0 ]; then
		echo "FAIL: $t (exit $rc, $(cat "$T/$n.time" 2>/dev/null) s)" >&2
		fail=1
	elif [ -n "${V:-}" ]; then
		echo "  ($t: $(cat "$T/$n.time") s)"
	fi
done
exit $fail
