#!/bin/sh
# SPDX-License-Identifier: MIT
# qcow2.sh --- differential test: imgcheck/imginfo/imgmap against qemu-img on damaged qcow2 images.
#
# The cases live in qcow2_cases.py (python3, stdlib only); this wrapper
# checks the prerequisites, makes a fresh temporary directory for the
# images and removes it afterwards.  V=1 prints details of each failure,
# CASES=substring runs a subset.
B=${B:-build}
export B
# A missing qemu-img, qemu-io or python3 is a failure, never a skip.
for t in qemu-img qemu-io python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "qcow2 differential: FAIL: $t not found (make deps)" >&2
		exit 1
	fi
done
here=$(dirname "$0")
T=$(mktemp -d "${TMPDIR:-/tmp}/qcow2sh.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
python3 "$here/qcow2_cases.py" "$T"
