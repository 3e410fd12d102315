#!/bin/sh
# SPDX-License-Identifier: MIT
# man.sh --- the manual pages: mandoc -T lint clean, every option of each
# tool's option table in its page, the sections scripts look for, the
# JSON keys of schema/check.json and schema/info.json in imgcheck(1) and
# imginfo(1), and imgkit-problems(7) with one entry per problem the table
# has, in order.
B=${B:-build}
here=$(cd "$(dirname "$0")/../.." && pwd)
fail=0
bad() { echo "man: FAIL: $*"; fail=$((fail + 1)); }
command -v mandoc >/dev/null 2>&1 ||
    { echo "man: FAIL: mandoc not found (make deps)" >&2; exit 1; }
P7=$B/man/imgkit-problems.7
[ -f "$P7" ] || { echo "man: FAIL: $P7 not built" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/man.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# Lint: anything but what depends on the manuals installed here.
mandoc -T lint "$here"/tools/*.1 "$P7" 2>&1 |
    grep -v 'referenced manual not found\|mandoc\.db' > "$T/lint"
[ -s "$T/lint" ] && bad "mandoc -T lint:
$(cat "$T/lint")"

# Every option in its page; imgrepair(1) belongs to the repair work and
# is reported, not enforced, until it lists them all.
for t in imginfo imgcheck imgmap imgrepair; do
	page=$here/tools/$t.1
	missing=
	for o in $("$B/bin/$t" --list-options | cut -f1); do
		case $o in
		--*) pat="Fl -${o#--}([^a-z-]|\$)" ;;
		*) pat="Fl ${o#-}([^A-Za-z0-9]|\$)" ;;
		esac
		grep -qE -- "$pat" "$page" || missing="$missing $o"
	done
	if [ -n "$missing" ] && [ $t = imgrepair ]; then
		echo "man: NOT YET ENFORCED: $t.1 lacks:$missing"
	elif [ -n "$missing" ]; then
		bad "$t.1 lacks:$missing"
	fi
	for s in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" "SEE ALSO"; do
		grep -q "^\.Sh $s\$" "$page" || bad "$t.1 has no $s"
	done
done
for t in imginfo imgcheck; do
	for s in EXAMPLES DIAGNOSTICS "JSON OUTPUT"; do
		grep -q "^\.Sh $s\$" "$here/tools/$t.1" || bad "$t.1 has no $s"
	done
done
grep -q 'CI' "$here/tools/imgcheck.1" &&
    grep -qi 'forensic' "$here/tools/imgcheck.1" &&
    grep -q 'imgrepair -r all' "$here/tools/imgcheck.1" ||
    bad "imgcheck.1: examples for CI, forensic work and repair"

# The JSON keys of the schemas, each named in the page.
for pair in check:imgcheck info:imginfo; do
	sch=${pair%%:*}
	t=${pair#*:}
	keys=$(sed -n '/^  "properties": {/,/^  }/p' "$here/schema/$sch.json" |
	    sed -n 's/^    "\([a-z-]*\)": .*/\1/p')
	[ -n "$keys" ] || bad "schema/$sch.json: no properties found"
	for k in $keys; do
		grep -q "Dq $k\\b" "$here/tools/$t.1" ||
		    bad "$t.1 does not name the JSON key \"$k\""
	done
done

# imgkit-problems(7): the problem table, entry for entry.
"$B/bin/imgcheck" --list-problems | awk '{ print $2 }' > "$T/ids"
sed -n 's/^\.It Sy \([a-z0-9-]*\) Pq 0x.*/\1/p' "$P7" > "$T/man-ids"
cmp -s "$T/ids" "$T/man-ids" ||
    bad "imgkit-problems.7 and --list-problems differ:
$(diff "$T/ids" "$T/man-ids" | head -5)"
[ "$(wc -l < "$T/ids")" -gt 100 ] || bad "only $(wc -l < "$T/ids") problems"

if [ $fail -ne 0 ]; then
	echo "man: $fail checks failed" >&2
	exit 1
fi
echo "man: 5 pages lint clean; options, sections, JSON keys and" \
    "$(wc -l < "$T/ids") problems documented"
