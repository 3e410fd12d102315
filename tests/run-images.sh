#!/bin/sh
# SPDX-License-Identifier: MIT
# run-images.sh --- run every image and differential test script
# (tests/images/*.sh), then leave the CUnit summary to the runner.
B=${B:-build}
export B
fail=0
for t in tests/images/*.sh; do
	[ -f "$t" ] || continue
	if ! sh "$t"; then
		echo "FAIL: $t" >&2
		fail=1
	fi
done
exit $fail
