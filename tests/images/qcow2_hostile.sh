#!/bin/sh
# SPDX-License-Identifier: MIT
# qcow2_hostile.sh --- mutated qcow2 images must not crash or hang the tools.
#
# The mutations live in qcow2_hostile.py (python3, stdlib only); this
# wrapper checks the prerequisites, makes a fresh temporary directory for
# the images and removes it afterwards.  V=1 prints the stderr of each
# failure, SEED=n runs another sequence, KEEP=dir keeps failing images.
B=${B:-build}
export B
for t in qemu-img qemu-io python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "qcow2 hostile tests skipped: $t not found"
		exit 0
	fi
done
here=$(dirname "$0")
T=$(mktemp -d "${TMPDIR:-/tmp}/qcow2hostile.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
python3 "$here/qcow2_hostile.py" "$T"
