# SPDX-License-Identifier: MIT
# qcow2_repair.py --- acceptance suite of issue 10: imgrepair on qcow2
# against qemu-img check -r, on damaged images built here.
#
# Usage: python3 qcow2_repair.py WORKDIR   (env B = build dir, V=1 prints
# every comparison and qemu's behaviour per image and level, CASES=substring
# runs a subset, NOCRASH=1 skips the SIGKILL test).  Every image is made in
# its own directory under WORKDIR by qemu-img create, qemu-io and qemu-img
# snapshot/bitmap, then given exactly one defect class by big-endian pokes
# whose offsets are computed from the header.  For each image and each
# level L (leaks, all):
#
#   qemu      qemu-img check -r L on a copy (Q) and qemu-img check Q again.
#   -o        imgrepair -r L -o OUT IMG:
#     exit      ours == qemu-img check -r L's exit status;
#     input     IMG is unchanged (sha256);
#     recheck   qemu-img check OUT exits as qemu-img check Q does, or better
#               (0 < 3 < 2 < 1); a better result is printed as a BETTER
#               line with the reason, and then our exit may be that better
#               status instead of qemu's;
#     data      qemu-img compare OUT Q exits 0.  When Q cannot be read, the
#               guest data of OUT must equal the original's wherever
#               qemu-img convert --salvage could read it; when Q is
#               readable but differs and OUT keeps the original's guest
#               data, that is recorded as BETTER;
#     codes     imgcheck OUT reports no problem code (findings-by-code)
#               that imgcheck IMG did not report.
#             A repair that exits 1 without writing OUT leaves IMG as the
#             result these four are judged on.
#   in-place  imgrepair -r L --in-place --undo U on a copy: exit, recheck,
#             data and codes as for -o, then
#     undo      imgrepair --apply-undo=U puts back the original bit for bit
#               (sha256, the size included: some repairs grow the file);
#               when qemu's repair changes the file, ours must have
#               written (an undo file must exist).
#   dry-run   imgrepair -r L --dry-run --output=json on a copy: nothing in
#             the directory changes; when our repair changes the image, or
#             qemu's does and succeeds (exit 1 may still clear the dirty
#             bit or set the corrupt bit), the JSON has a non-empty "plan";
#             and every change of the plan ({offset, length, old, new} in
#             hex, a prefix when "truncated"; {resize, file-length}) is
#             what the in-place repair did: "old" the original's bytes
#             (zeros past its end), "new" the result's.
#
# Then, once: an undo file applied to another image of the same shape, or
# with one byte flipped, is refused with a message and writes nothing; and
# the SIGKILL test: one -r all repair that makes at least 20 writes (32
# COPIED flags in 32 L2 tables and 96 leaks, 512-byte clusters) is killed
# at its Nth pwrite64 (strace -f inject) for N = 1..30 and then an even
# spread up to its last write (60 kills at most; 20 even when it writes
# less); after each, --apply-undo (when the undo file exists) restores the
# original bit for bit and a fresh in-place repair exits as qemu does.
#
# Prints one FAIL line per failing comparison, one BETTER line per
# comparison where ours beats qemu, and the summary line
# "qcow2_repair: N/M comparisons agree (K images)"; exits 1 when any
# comparison fails.  Python 3 standard library only.

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

from qcow2hdr import OFF_MASK, Qcow2Header

B = os.path.abspath(os.environ.get("B", "build"))
IMGREPAIR = os.path.join(B, "bin", "imgrepair")
IMGCHECK = os.path.join(B, "bin", "imgcheck")
VERBOSE = os.environ.get("V", "") not in ("", "0")
TIMEOUT = 60

KB = 1024
MB = 1024 * KB
COPIED = 1 << 63
COMPRESSED = 1 << 62
LEVELS = ("leaks", "all")
# qemu-img check exit statuses, best first: clean, leaks, corrupt, failed.
RANK = {0: 0, 3: 1, 2: 2, 1: 3}
# strace re-raises the tracee's SIGKILL: a shell sees 137, Python -9.
KILLED = (128 + 9, -9)
CRASH_MIN_WRITES = 20
CRASH_MAX_RUNS = 60


class Setup(Exception):
    """The image could not be built or poked as the case expects."""


# LeakSanitizer cannot run under ptrace: the strace runs of a SAN build
# leave leak checking to every other run.
TRACED_ENV = dict(os.environ, ASAN_OPTIONS=":".join(
    x for x in (os.environ.get("ASAN_OPTIONS"), "detect_leaks=0") if x))


def run(argv, cwd, timeout=TIMEOUT):
    """Run argv in cwd; return (status, stdout, stderr) as text."""
    env = TRACED_ENV if argv[0] == "strace" else None
    for attempt in range(3):
        try:
            p = subprocess.run(argv, cwd=cwd, capture_output=True,
                               timeout=timeout, env=env)
            break
        except subprocess.TimeoutExpired:
            return 124, "", "timed out after %ds" % timeout
        except OSError as e:
            # A binary being relinked by a concurrent make: try again.
            if attempt == 2:
                return 127, "", str(e)
            time.sleep(0.5)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def must(argv, cwd):
    """Run a build step; raise Setup when it fails."""
    rc, out, err = run(argv, cwd)
    if rc != 0:
        msg = (err.strip() or out.strip() or "?").splitlines()[-1]
        raise Setup("%s: exit %d: %s" % (" ".join(argv), rc, msg[:200]))
    return out


def sha(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for blk in iter(lambda: f.read(1 << 20), b""):
                h.update(blk)
    except OSError:
        return None
    return h.hexdigest()


def last_line(*texts):
    for t in texts:
        lines = [x for x in t.strip().splitlines() if x.strip()]
        if lines:
            return lines[-1][:200]
    return ""


def first_lines(text, n=2):
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return "; ".join(lines[:n])[:240]


def summary(out, err):
    """What a qemu-img check --output=json run found, in a few words."""
    doc = jload(out)
    if not isinstance(doc, dict):
        return last_line(err, out) or "no output"
    parts = ["%d %s" % (doc[k], k) for k in ("corruptions", "leaks",
                                              "check-errors") if doc.get(k)]
    if parts and err.strip():
        parts.append(err.strip().splitlines()[0][:120])
    return ", ".join(parts) or "clean"


def jload(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


class Q2(Qcow2Header):
    """Just enough qcow2 to compute where a poke goes (big endian).  The
    whole file is held in buf; save() writes it back."""

    error = Setup

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            super().__init__(bytearray(f.read()))
        self.cbits = self.cluster_bits
        self.rc_order = self.refcount_order
        self.hdr_len = self.header_length
        self.esz = self.l2_esz
        self.rc_bits = 1 << self.rc_order
        self.per_block = self.cs * 8 // self.rc_bits

    def save(self):
        with open(self.path, "r+b") as f:
            f.write(self.buf)
            f.truncate(len(self.buf))

    @property
    def eof_clusters(self):
        return (len(self.buf) + self.cs - 1) // self.cs

    def cluster_of(self, off):
        return off >> self.cbits

    # L1/L2
    l2_at = Qcow2Header.l2_entry_at

    def l2(self, guest):
        return self.u64(self.l2_at(guest))

    def data(self, guest):
        """Host offset of the normal data cluster that holds guest."""
        e = self.l2(guest)
        if e & COMPRESSED or not e & OFF_MASK:
            raise Setup("guest %#x is not a normal cluster: %#x" % (guest, e))
        return e & OFF_MASK

    def coffset(self, guest):
        e = self.l2(guest)
        if not e & COMPRESSED:
            raise Setup("guest %#x is not compressed: %#x" % (guest, e))
        return e & ((1 << (62 - (self.cbits - 8))) - 1)

    # refcounts
    def rc_loc(self, cluster):
        i = cluster // self.per_block
        if i >= self.rt_clusters * self.cs // 8:
            return None
        rb = self.u64(self.rt_off + 8 * i) & ~0x1ff
        if rb == 0 or rb + self.cs > len(self.buf):
            return None
        idx = cluster % self.per_block
        return (rb + idx * self.rc_bits // 8, (idx * self.rc_bits) % 8)

    def refcount(self, cluster):
        loc = self.rc_loc(cluster)
        if loc is None:
            raise Setup("no refcount block for cluster %d" % cluster)
        off, shift = loc
        if self.rc_bits < 8:
            return (self.buf[off] >> shift) & ((1 << self.rc_bits) - 1)
        return int.from_bytes(self.buf[off:off + self.rc_bits // 8], "big")

    def set_refcount(self, cluster, value):
        loc = self.rc_loc(cluster)
        if loc is None:
            raise Setup("no refcount block for cluster %d" % cluster)
        if value >= 1 << self.rc_bits:
            raise Setup("refcount %d does not fit %d bits" % (
                value, self.rc_bits))
        off, shift = loc
        if self.rc_bits < 8:
            mask = ((1 << self.rc_bits) - 1) << shift
            self.buf[off] = (self.buf[off] & ~mask) | (value << shift)
        else:
            n = self.rc_bits // 8
            self.buf[off:off + n] = value.to_bytes(n, "big")

    def free_clusters(self):
        """Clusters inside the file whose refcount is 0: on a consistent
        image nothing references them."""
        out = []
        for c in range(1, len(self.buf) // self.cs):
            if self.rc_loc(c) is not None and self.refcount(c) == 0:
                out.append(c)
        return out

    def leak(self, n, step=1):
        """Give refcount 1 to n free clusters (every step-th one)."""
        free = self.free_clusters()[::step]
        if len(free) < n:
            raise Setup("%d free clusters, want %d" % (len(free), n))
        for c in free[:n]:
            self.set_refcount(c, 1)
        return free[:n]

    def append_clusters(self, n):
        """Grow the file by n zero clusters; returns their indexes."""
        pad = (-len(self.buf)) % self.cs
        first = (len(self.buf) + pad) // self.cs
        self.buf.extend(b"\0" * (pad + n * self.cs))
        return list(range(first, first + n))

    # snapshots
    def snapshots(self):
        """[(offset, fixed 40 bytes, extra, id, name)] of every entry."""
        out = []
        off = self.snap_off
        for _ in range(self.nb_snap):
            fixed = bytes(self.buf[off:off + 40])
            idl, nml = struct.unpack_from(">HH", fixed, 12)
            xl = struct.unpack_from(">I", fixed, 36)[0]
            p = off + 40
            extra = bytes(self.buf[p:p + xl])
            sid = bytes(self.buf[p + xl:p + xl + idl])
            name = bytes(self.buf[p + xl + idl:p + xl + idl + nml])
            out.append((off, fixed, extra, sid, name))
            off += (40 + xl + idl + nml + 7) & ~7
        return out

    def rewrite_snapshot_extra(self, i, extra):
        """Rewrite the table with entry i's extra data replaced; the table
        must stay inside the clusters the old one was given."""
        ents = self.snapshots()
        old_end = ents[-1][0] + 40 + len(ents[-1][2]) + len(ents[-1][3]) + \
            len(ents[-1][4])
        room = ((old_end - self.snap_off + self.cs - 1) // self.cs) * self.cs
        tab = bytearray()
        for k, (_, fixed, x, sid, name) in enumerate(ents):
            fixed = bytearray(fixed)
            if k == i:
                x = extra
                struct.pack_into(">I", fixed, 36, len(x))
            ent = bytes(fixed) + x + sid + name
            tab += ent + b"\0" * ((-len(ent)) % 8)
        if len(tab) > room:
            raise Setup("snapshot table of %d bytes does not fit %d" % (
                len(tab), room))
        self.buf[self.snap_off:self.snap_off + room] = \
            bytes(tab) + b"\0" * (room - len(tab))

    # header extensions and bitmaps
    def ext(self, typ):
        off = self.hdr_len
        while off + 8 <= self.cs:
            t, n = struct.unpack_from(">II", self.buf, off)
            if t == 0:
                break
            if t == typ:
                return off + 8, n
            off += 8 + ((n + 7) & ~7)
        raise Setup("no header extension %#x" % typ)

    def bitmap_table(self):
        """Offset and size of the first bitmap's table."""
        eoff, _ = self.ext(0x23852875)
        doff = self.u64(eoff + 16)
        return self.u64(doff), self.u32(doff + 8)


# ---------------------------------------------------------------- cases
#
# A case builds img.qcow2 (and perhaps img.data) in c.d.

class Ctx:
    def __init__(self, d):
        self.d = d
        self.img = os.path.join(d, "img.qcow2")

    def create(self, opts="", size=64 * MB):
        argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
        if opts:
            argv += ["-o", opts]
        must(argv + ["img.qcow2", str(size)], self.d)

    def io(self, *cmds, killed=False):
        argv = ["qemu-io", "-f", "qcow2"]
        for cmd in cmds:
            argv += ["-c", cmd]
        rc, out, err = run(argv + ["img.qcow2"], self.d)
        if killed:
            if rc not in KILLED:
                raise Setup("qemu-io was not killed: exit %d" % rc)
            return
        if rc != 0:
            raise Setup("qemu-io: exit %d: %s" % (rc, last_line(err, out)))
        # qemu-io reports a failed command on stdout with exit 0.
        for line in out.splitlines():
            if "failed" in line or "error" in line.lower():
                raise Setup("qemu-io: %s" % line)

    def snapshot(self, name="snap1"):
        must(["qemu-img", "snapshot", "-c", name, "img.qcow2"], self.d)

    def bitmap(self, name, *extra):
        must(["qemu-img", "bitmap", "--add"] + list(extra) +
             ["img.qcow2", name], self.d)

    def q(self):
        return Q2(self.img)


CASES = []


def case(name):
    def reg(fn):
        CASES.append((name, fn))
        return fn
    return reg


# Guest data everywhere: 1M at 0 (so discards free whole clusters), a
# cluster at 8M and two at 40M.
STD = ("write -P 0x11 0 1M", "write -P 0x22 8M 64k",
       "write -P 0x33 40M 128k")
# The same with 256k of it discarded: four 64k clusters get refcount 0.
FREED = STD + ("discard 256k 256k",)


def base(c, opts="", io=STD, size=64 * MB):
    c.create(opts, size)
    c.io(*io)
    return c.q()


@case("clean")
def _(c):
    base(c)


def leaks(name, opts="", io=FREED, n=3, size=64 * MB):
    @case(name)
    def _(c):
        q = base(c, opts, io, size)
        q.leak(n)
        q.save()


def too_low(name, opts=""):
    # A snapshot shares the data cluster (refcount 2); store 1.
    @case(name)
    def _(c):
        base(c, opts)
        c.snapshot()
        q = c.q()
        cl = q.cluster_of(q.data(64 * KB))
        if q.refcount(cl) != 2:
            raise Setup("shared cluster has refcount %d" % q.refcount(cl))
        q.set_refcount(cl, 1)
        q.save()


# Every refcount width, with leaks and with a refcount too low.  At one bit
# a snapshot cannot be taken; too low is then 0 for a used cluster.
for _bits in (1, 2, 4, 8, 16, 32, 64):
    leaks("rb%d-leaks" % _bits, "refcount_bits=%d" % _bits)
    if _bits > 1:
        too_low("rb%d-too-low" % _bits, "refcount_bits=%d" % _bits)


@case("rb1-too-low")
def _(c):
    q = base(c, "refcount_bits=1")
    q.set_refcount(q.cluster_of(q.data(0)), 0)
    q.save()


# Many leaks in 4k clusters, spread over three refcount blocks.
@case("many-leaks-4k")
def _(c):
    q = base(c, "cluster_size=4k", ("write -P 0x11 0 24M", "discard 2M 20M"))
    q.leak(320, step=16)
    q.save()


@case("refcount-high-data")
def _(c):
    q = base(c)
    q.set_refcount(q.cluster_of(q.data(0)), 2)
    q.save()


@case("refcount-zero-data")
def _(c):
    q = base(c)
    q.set_refcount(q.cluster_of(q.data(64 * KB)), 0)
    q.save()


@case("refcount-zero-l2")
def _(c):
    q = base(c)
    q.set_refcount(q.cluster_of(q.l2_off(0)), 0)
    q.save()


@case("reftable-reserved")
def _(c):
    q = base(c)
    q.put64(q.rt_off, q.u64(q.rt_off) | 1)
    q.save()


@case("refblock-misaligned")
def _(c):
    q = base(c)
    q.put64(q.rt_off, q.u64(q.rt_off) + 512)
    q.save()


@case("refblock-past-eof")
def _(c):
    q = base(c)
    q.put64(q.rt_off + 8, (q.eof_clusters + 8) * q.cs)
    q.save()


@case("refblock-twice")
def _(c):
    q = base(c)
    q.put64(q.rt_off + 8, q.u64(q.rt_off))
    q.save()


@case("copied-l1-cleared")
def _(c):
    q = base(c)
    q.put64(q.l1_at(0), q.l1(0) & ~COPIED)
    q.save()


@case("copied-l1-set-shared")
def _(c):
    base(c)
    c.snapshot()
    q = c.q()
    q.put64(q.l1_at(0), q.l1(0) | COPIED)
    q.save()


@case("copied-l2-cleared")
def _(c):
    q = base(c)
    e = q.l2_at(128 * KB)
    q.put64(e, q.u64(e) & ~COPIED)
    q.save()


@case("copied-l2-set-shared")
def _(c):
    base(c)
    c.snapshot()
    q = c.q()
    e = q.l2_at(128 * KB)
    q.put64(e, q.u64(e) | COPIED)
    q.save()


@case("zero-misaligned")
def _(c):
    # write -z on an allocated cluster keeps it: a preallocated zero entry.
    q = base(c, io=STD + ("write -z 192k 64k",))
    e = q.l2_at(192 * KB)
    v = q.u64(e)
    if not v & 1 or not v & OFF_MASK:
        raise Setup("192k is not a preallocated zero cluster: %#x" % v)
    q.put64(e, v + 512)
    q.save()


@case("dirty-lazy-stale")
def _(c):
    # Killed before the refcount cache reached the disk: the dirty bit is
    # set and the new clusters have refcount 0.
    c.create("lazy_refcounts=on")
    c.io(*STD)
    c.io("write -P 0x44 4M 64k", "write -P 0x45 20M 128k", "sigraise 9",
         killed=True)
    q = c.q()
    if not q.incompat & 1:
        raise Setup("the dirty bit is not set")


@case("dirty-clean")
def _(c):
    q = base(c, "lazy_refcounts=on")
    q.put64(72, q.incompat | 1)
    q.save()


@case("corrupt-bit")
def _(c):
    q = base(c)
    q.put64(72, q.incompat | 2)
    q.save()


@case("snap-incomplete")
def _(c):
    # Version 3 wants at least 16 bytes of extra data; keep 8.
    base(c)
    c.snapshot()
    q = c.q()
    q.rewrite_snapshot_extra(0, q.snapshots()[0][2][:8])
    q.save()


@case("snap-extra-too-large")
def _(c):
    base(c)
    c.snapshot()
    q = c.q()
    x = q.snapshots()[0][2]
    q.rewrite_snapshot_extra(0, x + b"\0" * (1025 - len(x)))
    q.save()


@case("snap-leaks")
def _(c):
    # The snapshot and the write after it take four freed clusters.
    base(c, io=STD + ("discard 256k 512k",))
    c.snapshot()
    c.io("write -P 0x55 0 64k")
    q = c.q()
    q.leak(3)
    q.save()


@case("compressed-leaks")
def _(c):
    q = base(c, io=STD + ("write -c -P 0x61 2M 64k",
                          "write -c -P 0x62 2112k 64k",
                          "write -c -P 0x63 12M 64k"))
    cl = q.cluster_of(q.coffset(2 * MB))
    q.set_refcount(cl, q.refcount(cl) + 1)
    q.save()


@case("extl2-leaks")
def _(c):
    q = base(c, "extended_l2=on", FREED + ("write -P 0x66 3M 4k",))
    q.leak(3)
    q.save()


@case("extl2-bad-bitmap")
def _(c):
    # Subcluster 0 both allocated and zero.
    q = base(c, "extended_l2=on", STD + ("write -P 0x66 3M 4k",))
    e = q.l2_at(3 * MB) + 8
    q.put64(e, q.u64(e) | 1 << 32)
    q.save()


@case("extl2-unalloc-bits")
def _(c):
    # An unallocated cluster with subcluster allocation bits.
    q = base(c, "extended_l2=on", STD)
    e = q.l2_at(5 * MB)
    if q.u64(e) != 0:
        raise Setup("5M is allocated")
    q.put64(e + 8, 3)
    q.save()


@case("datafile-leaks")
def _(c):
    # Data clusters live in img.data and are not refcounted: leak two
    # clusters appended to the metadata file.
    q = base(c, "data_file=img.data")
    for cl in q.append_clusters(2):
        q.set_refcount(cl, 1)
    q.save()


@case("bitmaps-leaks")
def _(c):
    c.create()
    c.bitmap("b0")
    c.bitmap("b1", "-g", "128k", "--disable")
    c.io(*FREED)
    q = c.q()
    q.bitmap_table()        # the bitmaps are stored: Setup if not
    q.leak(2)
    q.save()


@case("bitmap-table-entry")
def _(c):
    c.create()
    c.bitmap("b0")
    c.io(*STD)
    q = c.q()
    tab, n = q.bitmap_table()
    e = q.u64(tab)
    if not e & OFF_MASK:
        raise Setup("bitmap table entry 0 has no cluster: %#x" % e)
    q.put64(tab, e | 0x2)
    q.save()


# Version 2.
leaks("v2-leaks", "compat=0.10")
too_low("v2-too-low", "compat=0.10")


@case("v2-refcount-zero")
def _(c):
    q = base(c, "compat=0.10")
    q.set_refcount(q.cluster_of(q.data(0)), 0)
    q.save()


@case("v2-copied-l2-cleared")
def _(c):
    q = base(c, "compat=0.10")
    e = q.l2_at(0)
    q.put64(e, q.u64(e) & ~COPIED)
    q.save()


@case("v2-l2-reserved")
def _(c):
    q = base(c, "compat=0.10")
    e = q.l2_at(0)
    q.put64(e, q.u64(e) | 1 << 56)
    q.save()


# Cluster sizes.
leaks("cs512-leaks", "cluster_size=512", n=40, size=4 * MB,
      io=("write -P 0x11 0 256k", "write -P 0x22 1M 4k",
          "discard 64k 64k"))
leaks("cs2M-leaks", "cluster_size=2M", n=1,
      io=("write -P 0x11 0 6M", "write -P 0x22 40M 64k", "discard 2M 2M"))


@case("cs2M-refcount-zero")
def _(c):
    q = base(c, "cluster_size=2M", ("write -P 0x11 0 6M",))
    q.set_refcount(q.cluster_of(q.data(2 * MB)), 0)
    q.save()


def many_copied(c):
    """512-byte clusters: 32 L2 tables, each between data clusters; the
    first entry of every one loses COPIED and 96 freed clusters leak."""
    io = ["write -P %d %d 4k" % (i + 1, i * 64 * KB) for i in range(32)]
    io += ["discard %d 1536" % (i * 64 * KB + 2560) for i in range(32)]
    q = base(c, "cluster_size=512", io, 4 * MB)
    for i in range(32):
        e = q.l2_at(i * 64 * KB)
        q.put64(e, q.u64(e) & ~COPIED)
    q.leak(96)
    q.save()


@case("cs512-copied-many")
def _(c):
    many_copied(c)


@case("l2-overlaps-reftable")
def _(c):
    # 4k clusters: an L2 table maps 2M; L1[1] is empty until it names the
    # refcount table as its L2 table.
    q = base(c, "cluster_size=4k", ("write -P 0x11 0 64k",
                                    "write -P 0x22 4M 64k"))
    if q.l1(1) != 0:
        raise Setup("L1[1] is in use")
    q.put64(q.l1_at(1), COPIED | q.rt_off)
    q.save()


@case("data-past-eof")
def _(c):
    # An unallocated entry (guest 2M) names a cluster past the end.
    q = base(c)
    e = q.l2_at(2 * MB)
    if q.u64(e) != 0:
        raise Setup("2M is allocated")
    q.put64(e, COPIED | (q.eof_clusters + 4) * q.cs)
    q.save()


@case("l1-reserved")
def _(c):
    q = base(c)
    q.put64(q.l1_at(0), q.l1(0) | 1 << 56)
    q.save()


@case("l2-reserved")
def _(c):
    q = base(c)
    e = q.l2_at(0)
    q.put64(e, q.u64(e) | 0x100)
    q.save()


# ----------------------------------------------------------- comparisons

class Result:
    def __init__(self, name):
        self.name = name
        self.n = 0
        self.fails = []
        self.better = []
        self.notes = []
        self.grew = False

    def ok(self, what):
        self.n += 1
        if VERBOSE:
            self.notes.append("ok %s: %s" % (self.name, what))

    def fail(self, what, why):
        self.n += 1
        self.fails.append("%s: %s: %s" % (self.name, what, why))

    def check(self, what, why):
        if why:
            self.fail(what, why)
        else:
            self.ok(what)

    def win(self, what, why):
        self.n += 1
        self.better.append("%s: %s: %s" % (self.name, what, why))

    def note(self, text):
        if VERBOSE:
            self.notes.append(text)


def rank(rc):
    return RANK.get(rc, 4)


def codes_of(path, d):
    """Problem ids imgcheck reports for path, or None without JSON."""
    rc, out, err = run([IMGCHECK, "--output=json", "--max-findings=0",
                        path], d)
    doc = jload(out)
    if not isinstance(doc, dict):
        return None, rc, last_line(err, out)
    by = doc.get("findings-by-code")
    if not isinstance(by, dict):
        return None, rc, "no findings-by-code"
    return set(by), rc, ""


class Image:
    """One case's directory and what is computed once about its image."""

    def __init__(self, name, d):
        self.name = name
        self.d = d
        self.orig = "img.qcow2"
        self.hash = None
        self.codes = None
        self.salvage = None

    def p(self, f):
        return os.path.join(self.d, f)

    def copy(self, f):
        shutil.copyfile(self.p(self.orig), self.p(f))
        return f

    def listing(self):
        return sorted((f, sha(self.p(f))) for f in os.listdir(self.d))

    def original_data(self):
        """salvage() of the original, made once."""
        if self.salvage is None:
            self.salvage = salvage(self.d, self.orig)
        return self.salvage


def salvage(d, src):
    """(guest bytes, set of unreadable 512-byte sectors, why) of src as
    qemu-img convert --salvage reads it; bytes are None when it cannot be
    opened at all."""
    raw = src + ".raw"
    rc, out, err = run(["qemu-img", "convert", "--salvage", "-O", "raw",
                        src, raw], d)
    if rc != 0 or not os.path.exists(os.path.join(d, raw)):
        return None, None, last_line(err, out)
    bad = set()
    for m in re.finditer(r"error while reading offset (\d+)", err):
        bad.add(int(m.group(1)) // 512)
    with open(os.path.join(d, raw), "rb") as f:
        data = f.read()
    os.unlink(os.path.join(d, raw))
    return data, bad, ""


def cmp_recheck(r, img, tag, target, qrec):
    """qemu-img check of our result: as qemu's repaired copy or better.
    Returns our re-check status (None when it could not be run)."""
    if not os.path.exists(img.p(target)):
        r.fail(tag + " recheck", "no output file")
        return None
    rc, out, err = run(["qemu-img", "check", "--output=json", target],
                       img.d)
    if rank(rc) < rank(qrec[0]):
        r.win(tag + " recheck", "qemu-img check exits %d after ours, %d "
              "after qemu's repair (%s)" % (rc, qrec[0], qrec[1]))
    elif rc != qrec[0]:
        r.fail(tag + " recheck", "qemu-img check exits %d after ours (%s), "
               "%d after qemu's repair (%s)" % (rc, summary(out, err), qrec[0],
                                                qrec[1]))
    else:
        r.ok(tag + " recheck")
    return rc


def cmp_exit(r, tag, rc, err, qrc, ours_rec):
    if rc == qrc:
        r.ok(tag + " exit")
    elif ours_rec is not None and rank(ours_rec) < rank(qrc) and \
            rc == ours_rec:
        r.win(tag + " exit", "exit %d, qemu-img check -r %d: the result "
              "is better (qemu-img check exits %d on it)" % (rc, qrc, rc))
    else:
        r.fail(tag + " exit", "exit %d, qemu-img check -r exits %d (%s)" % (
            rc, qrc, last_line(err)))


def cmp_data(r, img, tag, target, qcopy):
    """Guest data of target against qemu's repaired copy."""
    what = tag + " data"
    if not os.path.exists(img.p(target)):
        r.fail(what, "no output file")
        return
    rc, out, err = run(["qemu-img", "compare", target, qcopy], img.d)
    if rc == 0:
        r.ok(what)
        return
    # Is qemu's copy readable?  If so, the difference is ours.
    qrc, _, qerr = run(["qemu-img", "compare", qcopy, qcopy], img.d)
    if qrc == 0 and rc != 1:
        r.fail(what, "qemu-img compare with qemu's repair: exit %d: %s" % (
            rc, last_line(err, out)))
        return
    why = orig_diff(img, target)
    if qrc == 0:
        # Readable and different: better only if ours keeps the original.
        if why is None:
            r.win(what, "qemu's repair changes guest data (%s); ours "
                  "keeps the original's" % last_line(out, err))
        else:
            r.fail(what, "guest data differs from qemu's repair (%s)" % (
                last_line(out, err)))
        return
    if why is None:
        r.ok(what)
        r.note("%s: %s: qemu's repair unreadable (%s); compared with the "
               "original" % (img.name, what, last_line(qerr)))
    else:
        r.fail(what, "qemu's repair unreadable (%s); against the "
               "original: %s" % (last_line(qerr), why))


def orig_diff(img, target):
    """None when target's guest data equals the original's wherever the
    original was readable; otherwise why not."""
    raw, bad, _ = img.original_data()
    if raw is None:
        return None
    ours, obad, why = salvage(img.d, target)
    if ours is None:
        return "ours cannot be opened: %s" % why
    if len(ours) != len(raw):
        return "virtual size %d, original %d" % (len(ours), len(raw))
    lost = sorted(obad - bad)
    if lost:
        return "%d guest sectors the original could read are unreadable " \
            "in ours (from offset %d)" % (len(lost), lost[0] * 512)
    step = 1 << 20
    for off in range(0, len(raw), step):
        a, b = raw[off:off + step], ours[off:off + step]
        if a == b:
            continue
        for s in range(off // 512, (off + len(a)) // 512):
            if s in bad:
                continue
            if raw[s * 512:s * 512 + 512] != ours[s * 512:s * 512 + 512]:
                return "guest sector %d (offset %d) differs from the " \
                    "original's" % (s, s * 512)
    return None


def cmp_codes(r, img, tag, target):
    what = tag + " codes"
    if not os.path.exists(img.p(target)):
        r.fail(what, "no output file")
        return
    got, rc, why = codes_of(target, img.d)
    if got is None:
        # imgcheck cannot walk ours: fine only if it could not walk the
        # original either.
        if img.codes is None:
            r.ok(what)
        else:
            r.fail(what, "imgcheck exit %d without findings: %s" % (rc,
                                                                     why))
        return
    new = sorted(got - (img.codes or set()))
    if new:
        r.fail(what, "imgcheck reports %s, the original had %s" % (
            ", ".join(new), ", ".join(sorted(img.codes or ())) or "none"))
    else:
        r.ok(what)


def plan_of(out):
    doc = jload(out)
    if not isinstance(doc, dict):
        return None, "no JSON"
    if "plan" not in doc:
        return None, "no \"plan\" key (keys: %s)" % ", ".join(sorted(doc))
    return doc["plan"], ""


def plan_diff(plan, before, after):
    """None when every change of a dry run's plan is what the in-place
    repair did: "old" bytes at "offset" in the original, "new" bytes there
    in the result (a prefix when "truncated"), "file-length" its size."""
    with open(before, "rb") as f:
        a = f.read()
    with open(after, "rb") as f:
        b = f.read()
    if not isinstance(plan, list):
        return "\"plan\" is not a list"
    for i, c in enumerate(plan):
        try:
            off, n = c["offset"], c["length"]
            if c.get("resize"):
                if c.get("file-length") != len(b):
                    return "change %d: file length %s, the repair " \
                        "leaves %d" % (i, c.get("file-length"), len(b))
                continue
            old, new = bytes.fromhex(c["old"]), bytes.fromhex(c["new"])
        except (KeyError, TypeError, ValueError) as e:
            return "change %d: %r: %s" % (i, c, e)
        if not c.get("truncated") and (len(old) != n or len(new) != n):
            return "change %d: %d bytes, old/new carry %d/%d" % (
                i, n, len(old), len(new))
        # Past the original's end the plan's "old" bytes are zeros.
        was = a[off:off + len(old)]
        if was + bytes(len(old) - len(was)) != old:
            return "change %d at %#x (%s): \"old\" is not the original's " \
                "bytes" % (i, off, c.get("code"))
        if b[off:off + len(new)] != new:
            return "change %d at %#x (%s): \"new\" is not what the " \
                "in-place repair wrote" % (i, off, c.get("code"))
    return None


def one_level(r, img, lv):
    qcopy = img.copy("q-%s.qcow2" % lv)
    qrc, qout, qerr = run(["qemu-img", "check", "-r", lv, qcopy], img.d)
    rrc, rout, rerr = run(["qemu-img", "check", "--output=json", qcopy],
                          img.d)
    qrec = (rrc, summary(rout, rerr))
    qsha = sha(img.p(qcopy))
    qchanged = qsha != img.hash
    qgrow = os.path.getsize(img.p(qcopy)) - os.path.getsize(img.p(img.orig))
    r.note("qemu %s -r %s: exit %d, re-check %d, %s%s; %s" % (
        img.name, lv, qrc, rrc, "changed" if qchanged else "unchanged",
        ", grew %d" % qgrow if qgrow else "", first_lines(qerr, 3)))

    # -o into a new file.
    out = "o-%s.qcow2" % lv
    orc, oout, oerr = run([IMGREPAIR, "-r", lv, "-o", out, img.orig], img.d)
    if sha(img.p(img.orig)) != img.hash:
        r.fail("-o %s input" % lv, "the input changed")
        shutil.copyfile(img.p("orig.keep"), img.p(img.orig))
    else:
        r.ok("-o %s input" % lv)
    # A repair that fails writes no new file: the input is what remains.
    res = out if os.path.exists(img.p(out)) or orc != 1 else img.orig
    orec = cmp_recheck(r, img, "-o %s" % lv, res, qrec)
    cmp_exit(r, "-o %s" % lv, orc, oerr or oout, qrc, orec)
    cmp_data(r, img, "-o %s" % lv, res, qcopy)
    cmp_codes(r, img, "-o %s" % lv, res)

    # In place, with an undo file.
    ip = img.copy("i-%s.qcow2" % lv)
    undo = "i-%s.undo" % lv
    irc, iout, ierr = run([IMGREPAIR, "-r", lv, "--in-place", "--undo",
                           undo, ip], img.d)
    ichanged = sha(img.p(ip)) != img.hash
    # A repair is expected to write when ours did, or when qemu's changed
    # the file and succeeded (a failing qemu-img check -r may still clear
    # the dirty bit or set the corrupt bit on its way out).
    expect = ichanged or (qchanged and qrc != 1)
    if os.path.getsize(img.p(ip)) > os.path.getsize(img.p(img.orig)):
        r.grew = True
    irec = cmp_recheck(r, img, "in-place %s" % lv, ip, qrec)
    cmp_exit(r, "in-place %s" % lv, irc, ierr or iout, qrc, irec)
    cmp_data(r, img, "in-place %s" % lv, ip, qcopy)
    cmp_codes(r, img, "in-place %s" % lv, ip)
    shutil.copyfile(img.p(ip), img.p(ip + ".done"))
    what = "in-place %s undo" % lv
    if os.path.exists(img.p(undo)):
        arc, aout, aerr = run([IMGREPAIR, "--apply-undo=" + undo, ip],
                              img.d)
        if arc != 0:
            r.fail(what, "--apply-undo exit %d: %s" % (arc,
                                                      last_line(aerr, aout)))
        elif sha(img.p(ip)) != img.hash:
            r.fail(what, "--apply-undo does not restore the original "
                   "(size %d, original %d)" % (
                       os.path.getsize(img.p(ip)),
                       os.path.getsize(img.p(img.orig))))
        else:
            r.ok(what)
    elif ichanged:
        r.fail(what, "the image changed and there is no undo file")
    elif expect:
        r.fail(what, "nothing written (exit %d: %s), but qemu's repair "
               "changes the image" % (irc, last_line(ierr, iout)))
    else:
        r.ok(what)

    # Dry run: nothing changes, and a plan when a repair changes something.
    dp = img.copy("d-%s.qcow2" % lv)
    before = img.listing()
    drc, dout, derr = run([IMGREPAIR, "-r", lv, "--dry-run",
                           "--output=json", dp], img.d)
    if img.listing() != before:
        r.fail("dry-run %s writes" % lv, "the directory changed")
    else:
        r.ok("dry-run %s writes" % lv)
    plan, why = plan_of(dout)
    if expect:
        if plan is None:
            r.fail("dry-run %s plan" % lv, "exit %d, %s: %s" % (
                drc, why, last_line(derr)))
        elif not plan:
            r.fail("dry-run %s plan" % lv, "empty plan, but the repair "
                   "changes the image")
        else:
            r.ok("dry-run %s plan" % lv)
    if plan and irc != 1 and os.path.exists(img.p(undo)):
        r.check("dry-run %s plan is the repair" % lv,
                plan_diff(plan, img.p("orig.keep"), img.p(ip + ".done")))
    for f in (qcopy, out, ip, ip + ".done", dp, undo):
        if os.path.exists(img.p(f)):
            os.unlink(img.p(f))


def run_case(name, fn, root):
    r = Result(name)
    d = os.path.join(root, name)
    os.mkdir(d)
    try:
        fn(Ctx(d))
    except (Setup, OSError, struct.error) as e:
        r.fail("setup", str(e))
        return r
    img = Image(name, d)
    img.hash = sha(img.p(img.orig))
    shutil.copyfile(img.p(img.orig), img.p("orig.keep"))
    img.codes, _, _ = codes_of(img.orig, d)
    for lv in LEVELS:
        one_level(r, img, lv)
    return r


# ------------------------------------------------------------ undo files

FLIPS = (0, 8, 40, 100, "middle", "last")


def undo_tests(root):
    """An undo file for another image, or with a byte flipped, is
    refused and writes nothing."""
    r = Result("undo")
    d = os.path.join(root, "undo")
    os.mkdir(d)
    try:
        for name, pat in (("a", 0x11), ("b", 0x77)):
            c = Ctx(d)
            c.create()
            c.io("write -P %d 0 1M" % pat, "discard 256k 256k")
            q = c.q()
            q.leak(3)
            q.save()
            os.rename(c.img, os.path.join(d, name + ".qcow2"))
    except (Setup, OSError) as e:
        r.fail("setup", str(e))
        return r

    def p(f):
        return os.path.join(d, f)
    orig_a = sha(p("a.qcow2"))
    reps = {}
    for name in ("a", "b"):
        rc, out, err = run([IMGREPAIR, "-r", "all", "--in-place", "--undo",
                            name + ".undo", name + ".qcow2"], d)
        reps[name] = (rc, last_line(err, out))
    if not os.path.exists(p("a.undo")):
        r.fail("setup", "the repair of a.qcow2 left no undo file (exit %d: "
               "%s)" % reps["a"])
        for what in ["other image"] + ["flip byte %s" % p for p in FLIPS] + \
                ["apply after the refusals"]:
            r.fail(what, "no undo file to test")
        return r
    if sha(p("a.qcow2")) == orig_a:
        r.fail("setup", "the repair of a.qcow2 changed nothing")
    b_hash = sha(p("b.qcow2"))
    rc, out, err = run([IMGREPAIR, "--apply-undo=a.undo", "b.qcow2"], d)
    if rc == 0:
        r.fail("other image", "a's undo file applied to b.qcow2 (exit 0)")
    elif sha(p("b.qcow2")) != b_hash:
        r.fail("other image", "refused (exit %d) but b.qcow2 changed" % rc)
    else:
        r.ok("other image")
    a_hash = sha(p("a.qcow2"))
    with open(p("a.undo"), "rb") as f:
        u = f.read()
    for name in FLIPS:
        pos = {"middle": len(u) // 2, "last": len(u) - 1}.get(name, name)
        bad = bytearray(u)
        bad[min(pos, len(u) - 1)] ^= 0x01
        with open(p("bad.undo"), "wb") as f:
            f.write(bad)
        rc, out, err = run([IMGREPAIR, "--apply-undo=bad.undo", "a.qcow2"],
                           d)
        what = "flip byte %s" % name
        if rc == 0:
            r.fail(what, "applied (exit 0)")
        elif sha(p("a.qcow2")) != a_hash:
            r.fail(what, "refused (exit %d) but a.qcow2 changed" % rc)
        elif not err.strip():
            r.fail(what, "refused (exit %d) without a message" % rc)
        else:
            r.ok(what)
    rc, out, err = run([IMGREPAIR, "--apply-undo=a.undo", "a.qcow2"], d)
    if rc != 0 or sha(p("a.qcow2")) != orig_a:
        r.fail("apply after the refusals", "exit %d: %s" % (
            rc, last_line(err, out)))
    else:
        r.ok("apply after the refusals")
    return r


# --------------------------------------------------------------- SIGKILL

def crash_points(writes):
    """Every write up to 30 (20 at least, even when the repair makes
    fewer), then an even spread of the rest that ends at the last write,
    CRASH_MAX_RUNS kills at most."""
    last = max(writes, CRASH_MIN_WRITES)
    pts = list(range(1, min(last, 30) + 1))
    rest = last - len(pts)
    if rest > 0:
        k = CRASH_MAX_RUNS - len(pts)
        pts += sorted({pts[-1] + (i + 1) * rest // k for i in range(k)}
                      if rest > k else range(pts[-1] + 1, last + 1))
    return pts


def crash_test(root):
    """Kill one -r all repair at its Nth pwrite64, N = 1 .. last write."""
    r = Result("crash")
    d = os.path.join(root, "crash")
    os.mkdir(d)
    try:
        many_copied(Ctx(d))
    except (Setup, OSError, struct.error) as e:
        r.fail("setup", str(e))
        return r

    def p(f):
        return os.path.join(d, f)
    os.rename(p("img.qcow2"), p("orig.qcow2"))
    want = sha(p("orig.qcow2"))
    shutil.copyfile(p("orig.qcow2"), p("q.qcow2"))
    qrc, _, _ = run(["qemu-img", "check", "-r", "all", "q.qcow2"], d)

    # How many writes does the whole repair make?
    shutil.copyfile(p("orig.qcow2"), p("k.qcow2"))
    rc, out, err = run(["strace", "-f", "-o", "trace", "-e",
                        "trace=pwrite64", IMGREPAIR, "-q", "-r", "all",
                        "--in-place", "--undo", "k.undo", "k.qcow2"], d)
    writes = 0
    if os.path.exists(p("trace")):
        with open(p("trace")) as f:
            writes = sum(1 for line in f if "pwrite64(" in line)
    if rc != qrc:
        r.fail("full repair", "exit %d, qemu-img check -r all %d (%s)" % (
            rc, qrc, last_line(err, out)))
    else:
        r.ok("full repair")
    if writes < CRASH_MIN_WRITES:
        r.fail("writes", "the repair made %d pwrite64 calls, want %d or "
               "more" % (writes, CRASH_MIN_WRITES))
    else:
        r.ok("writes")
    r.note("crash: the repair makes %d writes" % writes)
    for n in crash_points(writes):
        what = "kill at write %d" % n
        shutil.copyfile(p("orig.qcow2"), p("k.qcow2"))
        for f in os.listdir(d):
            if f.startswith("k.undo"):
                os.unlink(p(f))
        krc, kout, kerr = run(["strace", "-f", "-o", "/dev/null", "-e",
                               "inject=pwrite64:signal=SIGKILL:when=%d" % n,
                               IMGREPAIR, "-q", "-r", "all", "--in-place",
                               "--undo", "k.undo", "k.qcow2"], d)
        if n <= writes and krc not in KILLED:
            r.fail(what, "not killed (exit %d)" % krc)
            continue
        if os.path.exists(p("k.undo")):
            arc, aout, aerr = run([IMGREPAIR, "-q", "--apply-undo=k.undo",
                                   "k.qcow2"], d)
            if arc != 0:
                r.fail(what, "--apply-undo exit %d: %s" % (
                    arc, last_line(aerr, aout)))
                continue
        if sha(p("k.qcow2")) != want:
            r.fail(what, "the original is not restored%s" % (
                "" if os.path.exists(p("k.undo")) else " (no undo file)"))
            continue
        frc, fout, ferr = run([IMGREPAIR, "-q", "-r", "all", "--in-place",
                               "--no-undo", "k.qcow2"], d)
        if frc != qrc:
            r.fail(what, "the fresh repair exits %d, qemu-img check -r all "
                   "%d (%s)" % (frc, qrc, last_line(ferr, fout)))
        else:
            r.ok(what)
    return r


# ------------------------------------------------------------------ main

def main():
    if len(sys.argv) != 2:
        print("usage: qcow2_repair.py WORKDIR", file=sys.stderr)
        return 2
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    for t in ("qemu-img", "qemu-io", "strace"):
        rc, out, err = run([t, "-V" if t == "strace" else "--version"],
                           root)
        if rc != 0:
            print("qcow2_repair: %s not usable: %s" % (t, err.strip() or rc))
            print("qcow2_repair: 0/1 comparisons agree (0 images)")
            return 1
    for t in (IMGREPAIR, IMGCHECK):
        if not os.access(t, os.X_OK):
            print("qcow2_repair: %s not built" % t)
            print("qcow2_repair: 0/1 comparisons agree (0 images)")
            return 1
    sel = os.environ.get("CASES", "")
    chosen = [(n, f) for n, f in CASES if sel in n]
    t0 = time.time()
    jobs = [lambda: crash_test(root)] if not sel and \
        os.environ.get("NOCRASH", "") in ("", "0") else []
    if not sel:
        jobs.append(lambda: undo_tests(root))
    jobs += [(lambda nf: lambda: run_case(nf[0], nf[1], root))(nf)
             for nf in chosen]
    with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(4, (os.cpu_count() or 2) * 2)) as ex:
        results = list(ex.map(lambda job: job(), jobs))
    total = sum(r.n for r in results)
    failed = 0
    for r in results:
        for line in r.notes:
            print("  " + line)
    for r in results:
        for line in r.better:
            print("BETTER " + line)
    for r in results:
        for line in r.fails:
            print("FAIL " + line)
        failed += len(r.fails)
    grew = [r.name for r in results if r.grew]
    if VERBOSE:
        print("qcow2_repair: %.1fs; in-place repairs that grew the file: "
              "%s" % (time.time() - t0, ", ".join(grew) or "none"))
    print("qcow2_repair: %d/%d comparisons agree (%d images)" % (
        total - failed, total, len(chosen)))
    return 1 if failed or not chosen else 0


if __name__ == "__main__":
    sys.exit(main())
