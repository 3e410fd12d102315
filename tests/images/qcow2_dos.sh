#!/bin/sh
# SPDX-License-Identifier: MIT
# qcow2_dos.sh --- images built to make a checker work for hours get a
# prompt verdict (see qcow2_dos.py).
exec python3 "$(dirname "$0")/qcow2_dos.py"
