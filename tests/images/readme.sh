#!/bin/sh
# SPDX-License-Identifier: MIT
# readme.sh --- the recipes of README.md's "Many images", run as written.
#
# Each shell block after a "<!-- readme.sh: NAME -->" line is cut out of
# README.md and run with IMAGES set to a folder of 200 small images (some
# leaking, one corrupt), GNU parallel's SSH pointed at a stand-in that runs
# the remote command here (so -S host1,host2 needs no sshd), and the
# shards run for SHARDS=3.  Then one python3 checks the JSON Lines: every
# image once (per host for the fleet), with its verdict; the
# fleet's lines with their host; the shards disjoint and complete.
B=${B:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
here=$(cd "$(dirname "$0")/../.." && pwd)
fail=0
for t in parallel jq python3; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "readme: FAIL: $t not found (make deps)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/readme.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# 200 images: i/A/B/C.qcow2; C = 3 leaks; i/1/2/5.qcow2 is corrupt.
mkdir -p "$T/images/0/0" "$T/home/.parallel"
: > "$T/home/.parallel/will-cite"
for k in clean leak corrupt; do
	"$B/tests/bin/qcow2_mk" $k "$T/$k.qcow2" ||
	    { echo "readme: FAIL: qcow2_mk" >&2; exit 1; }
done
for c in 0 1 2 3 4 5 6 7 8 9; do
	k=clean
	[ $c -eq 3 ] && k=leak
	ln "$T/$k.qcow2" "$T/images/0/0/$c.qcow2"
done
for d in 1 2 3 4 5 6 7 8 9; do cp -al "$T/images/0/0" "$T/images/0/$d"; done
cp -al "$T/images/0" "$T/images/1"
rm "$T/images/1/2/5.qcow2"
ln "$T/corrupt.qcow2" "$T/images/1/2/5.qcow2"

# The stand-in for ssh: drop the options and the host, run the rest here
# in a login's environment (sshd always sets SHELL; GNU parallel's remote
# wrapper runs the command with $SHELL, and CI may start us without it).
cat > "$T/ssh" <<'EOF'
#!/bin/sh
SHELL=/bin/sh
export SHELL
while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
shift
[ "$1" = -- ] && shift
exec sh -c "$*"
EOF
chmod +x "$T/ssh"

# recipe NAME: the shell block after the marker, into $T/NAME.sh.
recipe() {
	awk -v m="<!-- readme.sh: $1 -->" '
		$0 == m { found = 1; next }
		found && /^```sh$/ { inblock = 1; next }
		inblock && /^```$/ { exit }
		inblock { print }' "$here/README.md" > "$T/$1.sh"
	[ -s "$T/$1.sh" ] || { echo "readme: FAIL: no recipe '$1'"; fail=1; }
}
run() {	# NAME [VAR=VALUE...]: run the recipe in its own folder
	name=$1
	shift
	mkdir -p "$T/run/$name"
	(cd "$T/run/$name" && env PATH="$B/bin:$PATH" HOME="$T/home" \
	    PARALLEL_SSH="$T/ssh" IMAGES="$T/images" "$@" \
	    sh "$T/$name.sh") 2> "$T/run/$name.err"
	echo $? > "$T/run/$name.rc"
}
for r in parallel-local parallel-ssh parallel-fleet shard; do
	recipe $r
done
[ $fail -ne 0 ] && exit 1
run parallel-local
run parallel-ssh
run parallel-fleet
for k in 1 2 3; do
	mkdir -p "$T/run/shard"
	(cd "$T/run/shard" && env PATH="$B/bin:$PATH" IMAGES="$T/images" \
	    SHARD=$k SHARDS=3 sh "$T/shard.sh") 2>> "$T/run/shard.err"
	echo $? >> "$T/run/shard.rc"
done
find "$T/images" -type f | sort > "$T/list"

python3 - "$T" <<'PY'
import json, os, sys
T = sys.argv[1]
bad = []
images = open(T + "/list").read().split("\n")[:-1]
def verdict(f):
    if f.endswith("/1/2/5.qcow2"):
        return "corrupt"
    return "leaks" if f.endswith("/3.qcow2") else "clean"
def lines(path):
    out = []
    try:
        for ln in open(path):
            out.append(json.loads(ln))
    except (OSError, ValueError) as e:
        bad.append("%s: %s" % (os.path.relpath(path, T), e))
    return out
def judge(name, docs, copies=1):
    got = sorted(d.get("filename") for d in docs)
    if got != sorted(images * copies):
        bad.append("%s: %d lines for %d images x %d" % (name, len(docs),
                   len(images), copies))
    for d in docs:
        if d.get("verdict") != verdict(d.get("filename", "")):
            bad.append("%s: %s: verdict %s" % (name, d.get("filename"),
                       d.get("verdict")))
            break
for name in ("parallel-local", "parallel-ssh"):
    docs = lines("%s/run/%s/all.jsonl" % (T, name))
    judge(name, docs)
fleet = lines(T + "/run/parallel-fleet/fleet.jsonl")
judge("parallel-fleet", fleet, 2)
hosts = sorted(set(d.get("host") for d in fleet))
if hosts != ["host1", "host2"]:
    bad.append("parallel-fleet: hosts %s" % hosts)
shards = [lines("%s/run/shard/check-%d.jsonl" % (T, k)) for k in (1, 2, 3)]
judge("shard", shards[0] + shards[1] + shards[2])
sizes = [len(s) for s in shards]
if max(sizes) - min(sizes) > 1:
    bad.append("shard: uneven shards %s" % sizes)
rcs = open(T + "/run/shard.rc").read().split()
if sorted(rcs) != ["2", "3", "3"]:
    bad.append("shard: exit statuses %s, want one 2 (the corrupt image's "
               "shard) and two 3" % rcs)
for b in bad:
    print("readme: FAIL: " + b)
for name in ("parallel-local", "parallel-ssh", "parallel-fleet", "shard"):
    err = open("%s/run/%s.err" % (T, name)).read().strip()
    if bad and err:
        print("readme: %s stderr: %s" % (name, err[:500]))
sys.exit(1 if bad else 0)
PY
[ $? -eq 0 ] || exit 1
echo "readme: the GNU parallel recipes (local, over SSH, a fleet) and the" \
    "CI shards check $(wc -l < "$T/list") images as README.md says"
