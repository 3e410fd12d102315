#!/bin/sh
# SPDX-License-Identifier: MIT
# deps.sh --- install the Debian build and test dependencies (make deps).
# As root: apt-get update when needed, then apt-get install -y.  Otherwise
# print the exact command and fail when something is missing.
PKGS="build-essential pkg-config zlib1g-dev libjson-c-dev liblz4-dev
libzstd-dev libsodium-dev libssl-dev libncurses-dev libcunit1-dev
qemu-utils lz4 tmux python3 strace time clang mandoc zsh bash-completion
python3-jsonschema parallel jq"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y$missing"
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y $missing >/dev/null 2>&1 ||
	    { apt-get update >/dev/null && apt-get install -y $missing >/dev/null; } ||
	    { echo "deps: '$cmd' failed" >&2; exit 1; }
	exit 0
fi
echo "deps: missing:$missing" >&2
echo "deps: run as root: $cmd" >&2
exit 1
