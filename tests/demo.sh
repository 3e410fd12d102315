#!/bin/sh
# SPDX-License-Identifier: MIT
# demo.sh --- make demo: run imginfo and imgcheck on the bundled sample
# images (samples/*.gz), one clean and one corrupt.
B=${B:-build}
D=build/demo
mkdir -p "$D"
for s in clean corrupt; do
	gzip -dc "samples/$s.qcow2.gz" > "$D/$s.qcow2" || exit 1
done
for s in clean corrupt; do
	echo "\$ imginfo $D/$s.qcow2"
	"$B/bin/imginfo" "$D/$s.qcow2" | sed -n '1,12p'
	echo
	echo "\$ imgcheck $D/$s.qcow2"
	"$B/bin/imgcheck" "$D/$s.qcow2"
	echo "(exit status $?)"
	echo
done
echo "\$ imgcheck --output=json $D/corrupt.qcow2   (first lines)"
"$B/bin/imgcheck" --output=json "$D/corrupt.qcow2" | sed -n '1,14p'
exit 0
