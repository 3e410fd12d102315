#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# qcow2_dos.py --- crafted qcow2 images that would make a naive checker
# work for minutes or hours must get a verdict at once: one L2 table named
# by 131072 L1 entries, and bitmap directories that name tables past the
# end of the file or one table 65535 times.  Each run must finish within
# its timeout (a hang is a failure, not a slow pass) with the exit status
# and finding the case names.
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

B = os.environ.get("B", "build")
TIMEOUT = 60
CHECK = os.path.join(B, "bin", "imgcheck")


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def u64(f, off):
    f.seek(off)
    return struct.unpack(">Q", f.read(8))[0]


def shared_l2(d):
    """2 MiB clusters; L1 moved to a fresh cluster with 131072 entries,
    all naming the one L2 table: 34 billion entry visits if walked naively."""
    p = os.path.join(d, "shared.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=2M",
       p, "1G")
    sh("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 2M", p)
    n = 131072
    with open(p, "r+b") as f:
        l1 = u64(f, 40)
        e = u64(f, l1)
        f.seek(0, 2)
        new = (f.tell() + (2 << 20) - 1) & ~((2 << 20) - 1)
        f.seek(new)
        f.write(struct.pack(">%dQ" % n, *([e] * n)))
        f.truncate(new + (2 << 20))
        f.seek(24)
        f.write(struct.pack(">Q", n * 262144 * (2 << 20)))   # size
        f.seek(36)
        f.write(struct.pack(">I", n))                        # l1_size
        f.seek(40)
        f.write(struct.pack(">Q", new))                      # l1 offset
    return p


def bitmaps(d, past_eof):
    """A bitmaps extension naming 65535 bitmaps whose tables of 1 Mi
    entries lie past the end of the file, or are all one 8 MiB table inside
    it: 512 GiB of reads if each were read."""
    p = os.path.join(d, "bm%d.qcow2" % past_eof)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512",
       p, "1M")
    sh("qemu-img", "bitmap", "--add", p, "b0")
    nb = 65535
    with open(p, "r+b") as f:
        f.seek(0, 2)
        end = f.tell()
        diroff = (end + 511) & ~511
        tsize = 1 << 20
        dirend = (diroff + nb * 32 + 511) & ~511
        # Past EOF, or one 8 MiB table inside the (sparse) file.
        toff = 1 << 30 if past_eof else dirend
        ent = struct.pack(">QIIBBHI", toff, tsize, 0, 1, 16, 1, 0)
        ent += b"a" + b"\0" * 7
        f.seek(diroff)
        f.write(ent * nb)
        if not past_eof:
            f.truncate(dirend + tsize * 8)
        # Find the bitmaps extension after the 112-byte header.
        off = 112
        while True:
            f.seek(off)
            t, ln = struct.unpack(">II", f.read(8))
            if t == 0:
                raise SystemExit("no bitmaps extension")
            if t == 0x23852875:
                f.seek(off + 8)
                f.write(struct.pack(">IIQQ", nb, 0, nb * 32, diroff))
                break
            off += 8 + ((ln + 7) & ~7)
    return p


def run(name, path, want_rc, want_text, failures):
    try:
        r = subprocess.run([CHECK, "--output=json", path],
                           capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        failures.append("%s: no verdict within %d s" % (name, TIMEOUT))
        return
    if r.returncode != want_rc:
        failures.append("%s: exit %d, want %d (%s)" %
                        (name, r.returncode, want_rc, r.stderr.strip()))
        return
    text = r.stderr
    if r.returncode in (0, 2, 3):
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            failures.append("%s: output is not JSON" % name)
            return
        text += " ".join(f.get("code", "") for f in doc.get("findings", []))
    if want_text not in text:
        failures.append("%s: '%s' not in %r" % (name, want_text, text[:300]))


def main():
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        # A missing oracle is a failure, never a silent pass.
        print("qcow2 dos: FAIL: qemu-img or qemu-io not found (make deps)",
              file=sys.stderr)
        return 1
    failures = []
    d = tempfile.mkdtemp(prefix="qcow2dos.")
    try:
        run("shared L2 x131072", shared_l2(d), 2, "qcow2-refcount-short",
            failures)
        run("bitmap tables past EOF", bitmaps(d, True), 1,
            "Could not read bitmap", failures)
        run("one bitmap table 65535 times", bitmaps(d, False), 1,
            "bitmap tables total", failures)
    finally:
        shutil.rmtree(d)
    for f in failures:
        print("qcow2 dos: " + f)
    print("qcow2 dos: %d/3 crafted images get a prompt verdict" %
          (3 - len(failures)))
    return 1 if failures else 0


sys.exit(main())
