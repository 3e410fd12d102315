# SPDX-License-Identifier: MIT
# hostile.py --- mutated images of every format through all four tools.
#
# Usage: python3 hostile.py WORKDIR [FORMAT...]
#   env B     build directory (tools in $B/bin, writers in $B/tests/bin)
#       N     mutants per format (default 200)
#       SEED  mutation sequence (default 20261130); mutant i of a format
#             depends only on SEED, the format and i, so the first 200
#             of a 2,000 run are the 200 of a short one
#       KEEP  directory for the reproducers (default $B/hostile-keep)
#       JOBS  runs at once (default: the number of CPUs)
#       ONLY  "FORMAT:I" runs one mutant, V=1 prints each failure's
#             stderr, STATS=1 counts the exit statuses of each tool
#
# For each format (qcow2, qed, sparsestream, archive7) a few clean base
# images are made (qemu-img and qemu-io for qcow2 and QED: data,
# snapshots, bitmaps, compressed clusters, backing files; our writers
# sparse_mk, a7_mk and qcow2_mk), then N seeded mutants each: bit flips,
# byte runs, truncations, extensions, field extremes (0, 0xffffffff,
# 2^63, 2^64-1) and edits of the format's own tables (qcow2 header, L1,
# L2, refcount, snapshot and bitmap tables and cycles between them; QED
# header, L1 and L2; sparse frame headers, lengths, meta and trailer
# JSON; archive7 block headers, block 0, tree headers, pages and records,
# decrypted, edited and sealed again by tests/bin/a7_mut so the edit
# reaches past the MAC and the digest).  The recipes in REGRESS are run
# too, whatever N is.
#
# Every mutant goes through imginfo, imgcheck and imgmap --output=json,
# imgcheck in human mode, imgmap --extract -o OUT, imgrepair -r all
# --dry-run, imgrepair -r all -o NEW (then imgcheck NEW), and every 4th
# one through imgrepair -r all --in-place --undo=U on a copy and
# imgrepair --apply-undo=U, after which
# the copy must equal the mutant byte for byte (no undo file: the repair
# must not have changed it).  Every run must end by itself within 5 s (it
# is killed at 20 s), with no signal, no sanitizer report, at most 1 GiB
# of peak RSS (os.wait4), an exit status from the documented set, JSON on
# stdout when it prints JSON, and when it exits 1 a last stderr line
# "prog: reason" and, in JSON mode (every run but the human imgcheck), a
# JSON object on stdout whose "error" is that same reason.
#
# One line per failure (format, mutant, tool, what went wrong, the
# mutation, the reproducer kept under KEEP), one summary line per format;
# exit 1 on any failure.  Python 3 standard library only.

import concurrent.futures
import hashlib
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

B = os.environ.get("B", "build")
BIN = os.path.join(B, "bin")
TBIN = os.path.join(B, "tests", "bin")
N = int(os.environ.get("N", "200"))
SEED = int(os.environ.get("SEED", "20261130"))
KEEP = os.environ.get("KEEP", "") or os.path.join(B, "hostile-keep")
JOBS = int(os.environ.get("JOBS", "0") or 0) or (os.cpu_count() or 2)
ONLY = os.environ.get("ONLY", "")
VERBOSE = os.environ.get("V", "") not in ("", "0")
STATS = os.environ.get("STATS", "") not in ("", "0")

LIMIT_S = 5.0
KILL_S = 20.0
RSS_LIMIT_KB = 1 << 20
A7_KEY = bytes(range(32)).hex()
EXTREMES = (0, 0xffffffff, 1 << 63, (1 << 64) - 1)

# Exit statuses each tool documents (README.md, "The tools").
EXITS = {
    "imginfo": (0, 1),
    "imgmap": (0, 1),
    "imgcheck": (0, 1, 2, 3, 63),
    "imgrepair": (0, 1, 2, 3, 63),
}
# The sanitizers exit with these, so a report is never taken for exit 1.
SAN_ENV = {
    "ASAN_OPTIONS": "exitcode=86:detect_leaks=1:"
                    "allocator_may_return_null=1",
    "UBSAN_OPTIONS": "exitcode=87:print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": "exitcode=88",
}
SAN_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
             "LeakSanitizer", "runtime error:",
             "SUMMARY: UndefinedBehaviorSanitizer")


class Setup(Exception):
    """A base image could not be built."""


def run(argv, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120, **kw)
    if r.returncode != 0:
        raise Setup("%s: %s" % (" ".join(argv),
                                r.stderr.decode(errors="replace").strip()))
    return r.stdout


def have(prog):
    return shutil.which(prog) is not None


def qemu_io(fmt, path, *cmds):
    argv = ["qemu-io", "-f", fmt]
    for c in cmds:
        argv += ["-c", c]
    run(argv + [path])


def pack(width, v, big=True):
    v &= (1 << (8 * width)) - 1
    return v.to_bytes(width, "big" if big else "little")


class Mutant:
    """One recipe: byte pokes, a cut or an extension, plaintext edits."""

    def __init__(self, label, base, pokes=(), cut=None, extend=b"",
                 plain=(), sums=True):
        self.label = label
        self.base = base
        self.pokes = list(pokes)      # (offset, bytes) in the file
        self.cut = cut                # truncate to this length
        self.extend = extend          # bytes appended
        self.plain = list(plain)      # archive7: (block, offset, bytes)
        self.sums = sums              # archive7: recompute the digests


# --------------------------------------------------------------------
# Generic mutations every format gets.

def generic(rng, b):
    """A format-blind mutation of base b."""
    n = len(b.buf)
    k = rng.choice(("flip",) * 4 + ("run",) * 2 + ("cut",) * 2 +
                   ("ext",) + ("field",) * 2)
    hot = b.hot()
    if k == "flip":
        name, off, ln = rng.choice(hot) if hot and rng.random() < 0.8 \
            else ("anywhere", 0, n)
        at = off + rng.randrange(ln)
        bit = rng.randrange(8)
        return Mutant("flip %s byte %#x bit %d" % (name, at, bit), b,
                      [(at, bytes([b.buf[at] ^ (1 << bit)]))])
    if k == "run":
        name, off, ln = rng.choice(hot) if hot and rng.random() < 0.8 \
            else ("anywhere", 0, n)
        at = off + rng.randrange(ln)
        w = min(rng.choice((1, 2, 4, 8, 16, 64, 512)), n - at)
        fill = rng.choice(("00", "ff", "rand"))
        if fill == "rand":
            data = bytes(rng.getrandbits(8) for _ in range(w))
        else:
            data = bytes([0 if fill == "00" else 0xff]) * w
        return Mutant("run of %d %s bytes in %s at %#x" % (w, fill, name,
                      at), b, [(at, data)])
    if k == "cut":
        pts = b.cut_points()
        at = rng.choice(pts) if pts and rng.random() < 0.6 else \
            rng.randrange(n)
        return Mutant("truncate at %#x (of %#x)" % (at, n), b, cut=at)
    if k == "ext":
        w = rng.choice((1, 7, 512, 4096, 65536))
        fill = rng.choice(("zeros", "random", "copy"))
        if fill == "zeros":
            data = bytes(w)
        elif fill == "random":
            data = bytes(rng.getrandbits(8) for _ in range(min(w, 4096)))
            data *= max(1, w // 4096)
        else:
            data = (b.buf * (w // n + 1))[:w]
        return Mutant("extend by %d %s bytes" % (len(data), fill), b,
                      extend=data)
    fields = b.fields()
    name, off, w, big = rng.choice(fields)
    v = rng.choice(EXTREMES + (rng.getrandbits(64),
                               1 << rng.randrange(8 * w)))
    return Mutant("set %s (%#x, %d bytes) = %#x" % (name, off, w,
                  v & ((1 << (8 * w)) - 1)), b, [(off, pack(w, v, big))])


# --------------------------------------------------------------------
# qcow2 (big endian).

OFF_MASK = 0x00fffffffffffe00
COPIED = 1 << 63
COMPRESSED = 1 << 62
EXT_BITMAPS = 0x23852875
Q_HDR = (
    ("magic", 0, 4), ("version", 4, 4), ("backing_file_offset", 8, 8),
    ("backing_file_size", 16, 4), ("cluster_bits", 20, 4), ("size", 24, 8),
    ("crypt_method", 32, 4), ("l1_size", 36, 4), ("l1_table_offset", 40, 8),
    ("refcount_table_offset", 48, 8), ("refcount_table_clusters", 56, 4),
    ("nb_snapshots", 60, 4), ("snapshots_offset", 64, 8),
    ("incompatible", 72, 8), ("compatible", 80, 8), ("autoclear", 88, 8),
    ("refcount_order", 96, 4), ("header_length", 100, 4),
)
Q_SNAP = (("l1_table_offset", 0, 8), ("l1_size", 8, 4), ("id_size", 12, 2),
          ("name_size", 14, 2), ("vm_state_size", 32, 4),
          ("extra_data_size", 36, 4))
Q_BMDIR = (("table_offset", 0, 8), ("table_size", 8, 4), ("flags", 12, 4),
           ("type", 16, 1), ("granularity", 17, 1), ("name_size", 18, 2),
           ("extra", 20, 4))
Q_BMEXT = (("nb_bitmaps", 0, 4), ("reserved", 4, 4), ("dir_size", 8, 8),
           ("dir_offset", 16, 8))


class Base:
    fmt = ""
    ext = ""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        with open(path, "rb") as f:
            self.buf = f.read()

    def u(self, off, w, big=True):
        if off < 0 or off + w > len(self.buf):
            return 0
        return int.from_bytes(self.buf[off:off + w],
                              "big" if big else "little")

    def hot(self):
        return []

    def fields(self):
        return []

    def cut_points(self):
        return []

    def targeted(self, rng):
        return generic(rng, self)

    GENERIC = 0.45

    def one(self, rng):
        if rng.random() < self.GENERIC:
            return generic(rng, self)
        return self.targeted(rng)

    def mutate(self, rng):
        """One mutation, or now and then two on the same base at once."""
        m = self.one(rng)
        if rng.random() >= 0.15:
            return m
        m2 = self.one(rng)
        # Only pokes and plaintext edits compose; a cut ends the recipe.
        if m.extend or m2.extend or m2.cut is not None or \
                any(o == 0 and len(d) > 64 for o, d in m.pokes + m2.pokes):
            return m
        m.label += "; " + m2.label
        m.pokes += m2.pokes
        m.plain += m2.plain
        m.sums = m.sums and m2.sums
        return m


class Qcow2(Base):
    fmt = "qcow2"
    ext = "qcow2"

    def __init__(self, name, path):
        Base.__init__(self, name, path)
        u = self.u
        self.version = u(4, 4)
        self.cs = 1 << min(max(u(20, 4), 9), 21)
        self.l1_size = u(36, 4)
        self.l1_off = u(40, 8)
        self.rt_off = u(48, 8)
        self.rt_clusters = u(56, 4)
        self.nb_snap = u(60, 4)
        self.snap_off = u(64, 8)
        self.hdr_len = u(100, 4) if self.version >= 3 else 72
        self.l2 = sorted({e & OFF_MASK for e in self.table(self.l1_off,
                          self.l1_size) if e & OFF_MASK})
        self.rb = sorted({e & ~0x1ff for e in self.table(
            self.rt_off, self.rt_clusters * self.cs // 8) if e & ~0x1ff})
        self.exts = []
        p = self.hdr_len
        while p + 8 <= min(self.cs, len(self.buf)):
            typ, ln = u(p, 4), u(p + 4, 4)
            if typ == 0:
                break
            self.exts.append((typ, p, ln))
            p += 8 + (ln + 7) // 8 * 8
        self.ext_end = p + 8
        self.snaps = []
        p = self.snap_off
        for _ in range(self.nb_snap):
            p = (p + 7) & ~7
            l1o, l1n = u(p, 8), u(p + 8, 4)
            ids, names, extra = u(p + 12, 2), u(p + 14, 2), u(p + 36, 4)
            self.snaps.append((p, l1o, l1n))
            p += 40 + extra + ids + names
        self.snap_end = p
        self.bm_ext = None
        self.bm_dir = []
        for typ, p, ln in self.exts:
            if typ == EXT_BITMAPS and ln == 24:
                self.bm_ext = p + 8
                q = u(p + 24, 8)
                for _ in range(u(p + 8, 4)):
                    self.bm_dir.append(q)
                    q += (24 + u(q + 20, 4) + u(q + 18, 2) + 7) & ~7
        self.bm_tables = [u(q, 8) for q in self.bm_dir]

    def table(self, off, n):
        n = min(n, max(0, (len(self.buf) - off) // 8))
        return struct.unpack_from(">%dQ" % n, self.buf, off) if n else ()

    def hot(self):
        r = [("header", 0, self.hdr_len), ("l1", self.l1_off,
                                            self.l1_size * 8),
             ("reftable", self.rt_off, min(self.rt_clusters * self.cs,
                                            len(self.buf) - self.rt_off))]
        if self.ext_end > self.hdr_len:
            r.append(("extensions", self.hdr_len,
                      self.ext_end - self.hdr_len))
        r += [("l2@%#x" % o, o, self.cs) for o in self.l2[:4]]
        r += [("refblock@%#x" % o, o, self.cs) for o in self.rb[:2]]
        if self.nb_snap:
            r.append(("snaptab", self.snap_off,
                      self.snap_end - self.snap_off))
        if self.bm_dir:
            r.append(("bitmap-dir", self.bm_dir[0],
                      self.bm_dir[-1] + 24 - self.bm_dir[0]))
        for typ, p, ln in self.exts:
            if typ == 0x0537be77 and ln >= 16:
                # The LUKS header the crypto extension points at.
                r.append(("luks header", self.u(p + 8, 8),
                          min(self.u(p + 16, 8), 1024)))
        return [x for x in r if x[2] > 0 and x[1] + x[2] <= len(self.buf)]

    def fields(self):
        f = [("header." + n, o, w, True) for n, o, w in Q_HDR
             if o + w <= self.hdr_len]
        if self.version >= 3 and self.hdr_len > 104:
            f.append(("header.compression_type", 104, 1, True))
        for i in range(min(self.l1_size, 4)):
            f.append(("l1[%d]" % i, self.l1_off + 8 * i, 8, True))
        for o in self.l2[:2]:
            for j in (0, 1, 2, 3, self.cs // 8 - 1):
                f.append(("l2@%#x[%d]" % (o, j), o + 8 * j, 8, True))
        for i in range(min(self.rt_clusters * self.cs // 8, 2)):
            f.append(("reftable[%d]" % i, self.rt_off + 8 * i, 8, True))
        for o in self.rb[:1]:
            for j in (0, 1, 2, 3):
                f.append(("refblock@%#x[%d]" % (o, j), o + 2 * j, 2, True))
        for k, (p, _, _) in enumerate(self.snaps):
            for n, o, w in Q_SNAP:
                f.append(("snap[%d].%s" % (k, n), p + o, w, True))
        for typ, p, ln in self.exts:
            f.append(("ext %#x.length" % typ, p + 4, 4, True))
            if typ == 0x0537be77 and ln >= 16:
                f.append(("crypto-ext.offset", p + 8, 8, True))
                f.append(("crypto-ext.length", p + 16, 8, True))
        if self.bm_ext is not None:
            for n, o, w in Q_BMEXT:
                f.append(("bitmaps-ext." + n, self.bm_ext + o, w, True))
        for k, p in enumerate(self.bm_dir):
            for n, o, w in Q_BMDIR:
                f.append(("bitmap[%d].%s" % (k, n), p + o, w, True))
        return [x for x in f if x[1] + x[2] <= len(self.buf)]

    def cut_points(self):
        pts = {0, 1, 4, 8, 71, 72, 103, 104, self.hdr_len, self.cs - 1,
               self.cs, self.l1_off, self.l1_off + 4, self.rt_off,
               self.rt_off + 8, self.snap_off, self.snap_end - 1,
               len(self.buf) - 1, len(self.buf) // 2}
        pts |= {o + self.cs // 2 for o in self.l2[:2] + self.rb[:1]}
        pts |= set(self.bm_dir[:1]) | set(self.bm_tables[:1])
        return sorted(p for p in pts if 0 <= p < len(self.buf))

    def cycles(self):
        """Structures that point at themselves or at the header."""
        c, cp = [], COPIED
        if self.l1_size:
            c += [("l1[0] -> the L1 table", self.l1_off, self.l1_off | cp),
                  ("l1[0] -> the header", self.l1_off, cp),
                  ("l1[0] -> the refcount table", self.l1_off,
                   self.rt_off | cp)]
            if self.rb:
                c.append(("l1[0] -> a refcount block", self.l1_off,
                          self.rb[0] | cp))
        if self.l1_size > 1 and self.l2:
            c.append(("l1[1] -> the L2 table of l1[0]", self.l1_off + 8,
                      self.l2[0] | cp))
        if self.l2:
            o = self.l2[0]
            c += [("l2[0] -> the header", o, cp),
                  ("l2[0] -> its own L2 table", o, o | cp),
                  ("l2[1] -> the L1 table", o + 8, self.l1_off | cp),
                  ("l2[2] -> the refcount table", o + 16, self.rt_off | cp),
                  ("l2[0] compressed, maximal length", o,
                   COMPRESSED | ((1 << 62) - 1)),
                  ("l2[0] compressed at the header", o, COMPRESSED)]
        c += [("reftable[0] -> the L1 table", self.rt_off, self.l1_off),
              ("reftable[0] -> the header", self.rt_off, 0x200),
              ("reftable[0] -> the refcount table", self.rt_off,
               self.rt_off)]
        for k, (p, _, _) in enumerate(self.snaps[:1]):
            c += [("snap[%d] L1 -> the active L1" % k, p, self.l1_off),
                  ("snap[%d] L1 -> the header" % k, p, 0),
                  ("snap[%d] L1 -> the snapshot table" % k, p,
                   self.snap_off)]
        for k, p in enumerate(self.bm_dir[:1]):
            c += [("bitmap[%d] table -> the header" % k, p, self.cs),
                  ("bitmap[%d] table -> the L1 table" % k, p, self.l1_off),
                  ("bitmap[%d] table -> the bitmap directory" % k, p,
                   p & ~(self.cs - 1))]
        if self.bm_tables:
            t = self.bm_tables[0]
            c += [("bitmap table[0] -> the bitmap table", t, t),
                  ("bitmap table[0] -> the header", t, self.cs)]
        return [x for x in c if x[1] + 8 <= len(self.buf)]

    def targeted(self, rng):
        k = rng.choice(("field",) * 5 + ("cycle",) * 3 + ("multi",) * 2)
        if k == "cycle" and self.cycles():
            name, off, v = rng.choice(self.cycles())
            return Mutant("cycle: %s (%#x = %#x)" % (name, off, v), self,
                          [(off, pack(8, v))])
        fields = self.fields()
        if k == "multi":
            pokes, what = [], []
            for _ in range(rng.randrange(2, 6)):
                name, off, w, _ = rng.choice(fields)
                v = rng.choice(EXTREMES)
                pokes.append((off, pack(w, v)))
                what.append("%s (%#x) = %#x" % (name, off,
                            v & ((1 << (8 * w)) - 1)))
            return Mutant("set " + ", ".join(what), self, pokes)
        name, off, w, _ = rng.choice(fields)
        cur = self.u(off, w)
        v = rng.choice(EXTREMES + (rng.getrandbits(64), cur + 1, cur - 1,
                                   cur + self.cs, cur ^ COPIED,
                                   1 << rng.randrange(8 * w)))
        return Mutant("set %s (%#x, %d bytes) = %#x" % (name, off, w,
                      v & ((1 << (8 * w)) - 1)), self, [(off, pack(w, v))])


def make_qcow2(wd):
    bases = []
    if have("qemu-img") and have("qemu-io"):
        specs = (
            ("v3-4k-snap-bitmap", "compat=1.1,cluster_size=4096", "1M",
             ("w", "snap", "bitmap", "w2", "compress")),
            ("v2-512-snap", "compat=0.10,cluster_size=512", "256k",
             ("w", "snap", "w2")),
            ("v3-64k-extl2", "compat=1.1,cluster_size=65536,extended_l2=on",
             "4M", ("w", "w2")),
            ("v3-1k-rc64-bitmap",
             "compat=1.1,cluster_size=1024,refcount_bits=64", "512k",
             ("w", "bitmap", "snap", "w2")),
            ("v3-8k-zstd-backing", "compat=1.1,cluster_size=8192,"
             "compression_type=zstd", "512k", ("backing", "w", "compress")),
            ("v3-4k-datafile", "cluster_size=4096,data_file_raw=on", "512k",
             ("datafile", "w")),
            ("v3-4k-luks", "cluster_size=4096,encrypt.format=luks,"
             "encrypt.key-secret=sec0,encrypt.iter-time=10", "256k",
             ("luks",)),
            ("v3-64k-lazy-dirty", "cluster_size=65536,lazy_refcounts=on",
             "8M", ("w", "w2", "dirty")),
        )
        for name, opts, size, steps in specs:
            p = os.path.join(wd, name + ".qcow2")
            pre = []
            if "datafile" in steps:
                opts += ",data_file=%s" % os.path.join(wd, name + ".raw")
            if "luks" in steps:
                pre = ["--object", "secret,id=sec0,data=hostile"]
            if "backing" in steps:
                bk = os.path.join(wd, name + "-base.raw")
                with open(bk, "wb") as f:
                    f.truncate(512 << 10)
                opts += ",backing_file=%s,backing_fmt=raw" % bk
            try:
                run(["qemu-img", "create", "-q", "-f", "qcow2"] + pre +
                    ["-o", opts, p, size])
            except Setup:
                if pre or "datafile" in steps:
                    continue        # an older qemu-img: not this one
                raise
            for s in steps:
                if s == "w":
                    qemu_io("qcow2", p, "write -P 0x11 0 12k",
                            "write -z 64k 4k", "write -P 0x22 128k 4k")
                elif s == "w2":
                    qemu_io("qcow2", p, "write -P 0x33 4k 4k",
                            "write -P 0x44 160k 8k")
                elif s == "snap":
                    run(["qemu-img", "snapshot", "-c", "s1", p])
                    qemu_io("qcow2", p, "write -P 0x55 8k 2k")
                    run(["qemu-img", "snapshot", "-c", "s2", p])
                elif s == "bitmap":
                    run(["qemu-img", "bitmap", "--add", p, "b0"])
                    run(["qemu-img", "bitmap", "--add", "-g", "65536", p,
                         "b1"])
                elif s == "dirty":
                    # The dirty bit, as a crash with lazy refcounts leaves.
                    with open(p, "r+b") as f:
                        f.seek(72)
                        v = int.from_bytes(f.read(8), "big") | 1
                        f.seek(72)
                        f.write(pack(8, v))
                elif s == "compress":
                    qemu_io("qcow2", p, "write -c -P 0x66 192k %dk" %
                            (8 if "8k" in name else 4))
            bases.append(Qcow2(name, p))
    for kind in ("clean", "corrupt"):
        p = os.path.join(wd, "mk-%s.qcow2" % kind)
        run([os.path.join(TBIN, "qcow2_mk"), kind, p])
        bases.append(Qcow2("qcow2_mk-" + kind, p))
    return bases


# --------------------------------------------------------------------
# QED (little endian).

QED_HDR = (("magic", 0, 4), ("cluster_size", 4, 4), ("table_size", 8, 4),
           ("header_size", 12, 4), ("features", 16, 8),
           ("compat_features", 24, 8), ("autoclear_features", 32, 8),
           ("l1_table_offset", 40, 8), ("image_size", 48, 8),
           ("backing_filename_offset", 56, 4),
           ("backing_filename_size", 60, 4))


class Qed(Base):
    fmt = "qed"
    ext = "qed"

    def __init__(self, name, path):
        Base.__init__(self, name, path)
        self.cs = self.u(4, 4, False)
        self.ts = self.u(8, 4, False)
        self.tbytes = self.cs * self.ts
        self.l1_off = self.u(40, 8, False)
        n = min(self.tbytes // 8, max(0, (len(self.buf) - self.l1_off) // 8))
        l1 = struct.unpack_from("<%dQ" % n, self.buf, self.l1_off) \
            if n else ()
        self.l1 = [(i, e) for i, e in enumerate(l1) if e]
        self.l2 = []
        for i, e in self.l1[:3]:
            m = min(self.tbytes // 8, max(0, (len(self.buf) - e) // 8))
            ents = struct.unpack_from("<%dQ" % m, self.buf, e) if m else ()
            self.l2.append((e, [(j, x) for j, x in enumerate(ents) if x]))

    def hot(self):
        r = [("header", 0, 64), ("l1", self.l1_off, self.tbytes)]
        r += [("l2@%#x" % o, o, self.tbytes) for o, _ in self.l2]
        return [x for x in r if x[1] + x[2] <= len(self.buf)]

    def fields(self):
        f = [("header." + n, o, w, False) for n, o, w in QED_HDR]
        for i, _ in self.l1[:3]:
            f.append(("l1[%d]" % i, self.l1_off + 8 * i, 8, False))
        f.append(("l1[last]", self.l1_off + self.tbytes - 8, 8, False))
        for o, ents in self.l2:
            for j, _ in ents[:4]:
                f.append(("l2@%#x[%d]" % (o, j), o + 8 * j, 8, False))
            f.append(("l2@%#x[last]" % o, o + self.tbytes - 8, 8, False))
        return [x for x in f if x[1] + x[2] <= len(self.buf)]

    def cut_points(self):
        pts = {0, 4, 63, 64, self.cs - 1, self.cs, self.l1_off,
               self.l1_off + 8, self.l1_off + self.tbytes - 1,
               len(self.buf) - 1, len(self.buf) - self.cs}
        pts |= {o + self.tbytes // 2 for o, _ in self.l2}
        return sorted(p for p in pts if 0 <= p < len(self.buf))

    def targeted(self, rng):
        fields = self.fields()
        k = rng.choice(("field",) * 4 + ("point",) * 4 + ("multi",) * 2)
        if k == "point":
            # A table entry at another structure, unaligned, or past the end.
            refs = [("l1[%d]" % i, self.l1_off + 8 * i) for i, _ in
                    self.l1[:3]]
            for o, ents in self.l2:
                refs += [("l2@%#x[%d]" % (o, j), o + 8 * j) for j, _ in
                         ents[:4]]
            if refs:
                name, at = rng.choice(refs)
                tgt = rng.choice((
                    ("the header", 0), ("the L1 table", self.l1_off),
                    ("its own table", at - at % self.cs),
                    ("another L2", self.l2[0][0] if self.l2 else 0),
                    ("zero cluster 1", 1), ("unaligned", self.cs + 8),
                    ("the end of file", len(self.buf)),
                    ("past the end", len(self.buf) + 64 * self.cs),
                    ("far", 1 << 62)))
                return Mutant("point %s at %s (%#x)" % (name, tgt[0],
                              tgt[1]), self, [(at, pack(8, tgt[1], False))])
        if k == "multi":
            pokes, what = [], []
            for _ in range(rng.randrange(2, 5)):
                name, off, w, _ = rng.choice(fields)
                v = rng.choice(EXTREMES + (rng.getrandbits(32),))
                pokes.append((off, pack(w, v, False)))
                what.append("%s = %#x" % (name, v & ((1 << (8 * w)) - 1)))
            return Mutant("set " + ", ".join(what), self, pokes)
        name, off, w, _ = rng.choice(fields)
        cur = self.u(off, w, False)
        v = rng.choice(EXTREMES + (cur + 1, cur - 1, cur * 2, cur // 2,
                                   cur + self.cs, rng.getrandbits(64),
                                   1 << rng.randrange(8 * w)))
        return Mutant("set %s (%#x, %d bytes) = %#x" % (name, off, w,
                      v & ((1 << (8 * w)) - 1)), self,
                      [(off, pack(w, v, False))])


def make_qed(wd):
    bases = []
    if not (have("qemu-img") and have("qemu-io")):
        return bases
    specs = (
        ("4k-t2", "cluster_size=4096,table_size=2", "1M", False),
        ("64k", "cluster_size=65536", "16M", False),
        ("4k-t4-backing", "cluster_size=4096,table_size=4", "2M", True),
        ("8k-t2-big", "cluster_size=8192,table_size=2", "1G", False),
        ("64k-t4-64g-dirty", "cluster_size=65536,table_size=4", "64G",
         False),
    )
    for name, opts, size, backing in specs:
        p = os.path.join(wd, name + ".qed")
        if backing:
            bk = os.path.join(wd, name + "-base.raw")
            with open(bk, "wb") as f:
                f.truncate(2 << 20)
            opts += ",backing_file=%s,backing_fmt=raw" % bk
        run(["qemu-img", "create", "-q", "-f", "qed", "-o", opts, p, size])
        qemu_io("qed", p, "write -P 0x11 0 12k", "write -z 64k 4k",
                "write -P 0x22 128k 4k", "write -P 0x33 900k 8k")
        if size == "1G":
            qemu_io("qed", p, "write -P 0x44 512M 4k",
                    "write -P 0x45 1023M 8k")
        if size == "64G":
            qemu_io("qed", p, "write -P 0x46 40G 64k",
                    "write -z 41G 128k", "write -P 0x47 63G 4k")
            # The need-check feature bit, as a crash leaves it.
            with open(p, "r+b") as f:
                f.seek(16)
                v = int.from_bytes(f.read(8), "little") | 2
                f.seek(16)
                f.write(pack(8, v, False))
        bases.append(Qed(name, p))
    return bases


# --------------------------------------------------------------------
# virtnbdbackup sparse streams (text headers).

HDR_RE = re.compile(rb"(meta|data|zero|stop|comp) ([0-9a-f]{16}) "
                    rb"([0-9a-f]{16})\r\n")


class Sparse(Base):
    fmt = "sparsestream"
    ext = "data"

    def __init__(self, name, path):
        Base.__init__(self, name, path)
        self.hdrs = [(m.start(), m.group(1).decode()) for m in
                     HDR_RE.finditer(self.buf)]
        self.meta_len = int(self.buf[22:38], 16) if self.hdrs else 0
        self.json = (40, self.meta_len)
        self.trailer = None
        comp = [o for o, k in self.hdrs if k == "comp"]
        stop = [o for o, k in self.hdrs if k == "stop"]
        if comp and stop:
            self.trailer = (stop[-1] + 40, comp[-1] - 2 - stop[-1] - 40)

    def hot(self):
        r = [("%s header" % k, o, 40) for o, k in self.hdrs]
        r.append(("meta json", 40, self.meta_len))
        if self.trailer:
            r.append(("trailer", self.trailer[0], self.trailer[1]))
        return [x for x in r if x[2] > 0]

    def fields(self):
        f = []
        for o, k in self.hdrs:
            f.append(("%s@%#x.start" % (k, o), o + 5, 16, True))
            f.append(("%s@%#x.length" % (k, o), o + 22, 16, True))
        return f

    def cut_points(self):
        pts = {0, 20, 39, 40, 40 + self.meta_len, 42 + self.meta_len,
               len(self.buf) - 1}
        for o, _ in self.hdrs:
            pts |= {o, o + 1, o + 20, o + 39, o + 40, o + 41}
        if self.trailer:
            pts |= {self.trailer[0] + self.trailer[1] // 2}
        return sorted(p for p in pts if 0 <= p < len(self.buf))

    def hexfield(self, rng, name, off):
        v = rng.choice(EXTREMES + (0x7fffffffffffffff, rng.getrandbits(64),
                                   1 << rng.randrange(64),
                                   int(self.buf[off:off + 16], 16) + 1,
                                   int(self.buf[off:off + 16], 16) - 1))
        v &= (1 << 64) - 1
        style = rng.choice(("canon", "canon", "upper", "space", "junk"))
        s = "%016x" % v
        if style == "upper":
            s = s.upper()
        elif style == "space":
            s = ("%x" % v).rjust(16)
        elif style == "junk":
            s = s[:15] + rng.choice("g-+x \0")
        return Mutant("set %s to '%s'" % (name, s.replace("\0", "\\0")),
                      self, [(off, s.encode())])

    def json_edit(self, rng, what, off, ln):
        text = self.buf[off:off + ln].decode(errors="replace")
        cands = []
        for m in re.finditer(r'"(\w+)": ("[^"]*"|[0-9]+|true|false)', text):
            cands.append(m)
        nums = list(re.finditer(r"[0-9]+", text))
        k = rng.choice(("value", "value", "number", "shrink"))
        if k == "value" and cands:
            m = rng.choice(cands)
            v = rng.choice(('0', '-1', '18446744073709551615',
                            '18446744073709551616', '9223372036854775808',
                            '1e999', 'null', 'true', '"x"', '[]', '{}',
                            '"' + 'A' * 300 + '"', '3.5', '""'))
            new = text[:m.start(2)] + v + text[m.end(2):]
            lbl = "%s key %s = %s" % (what, m.group(1), v[:24])
        elif k == "number" and nums:
            m = rng.choice(nums)
            v = rng.choice(("0", "1", "99999999999999999999",
                            str(int(m.group(0)) + 1), "-1"))
            new = text[:m.start()] + v + text[m.end():]
            lbl = "%s number %s -> %s" % (what, m.group(0), v)
        else:
            cut = rng.randrange(len(text) + 1)
            new = text[:cut] + " " * (len(text) - cut)
            lbl = "%s cut to %d chars" % (what, cut)
        data = new.encode()
        # Same length keeps the frames after it in place; otherwise the
        # length field follows the text (meta only).
        if len(data) == ln:
            return Mutant(lbl, self, [(off, data)])
        if what == "meta json":
            buf = b"meta %016x %016x\r\n" % (0, len(data)) + data + \
                self.buf[off + ln:]
            return Mutant(lbl + " (length follows)", self,
                          [(0, buf)], cut=len(buf))
        data = (data + b" " * ln)[:ln]
        return Mutant(lbl + " (padded)", self, [(off, data)])

    def targeted(self, rng):
        k = rng.choice(("hex",) * 4 + ("kind",) * 2 + ("term",) +
                       ("json",) * 3 + ("frame",) * 2)
        if k == "hex":
            name, off, _, _ = rng.choice(self.fields())
            return self.hexfield(rng, name, off)
        if k == "kind":
            o, kind = rng.choice(self.hdrs)
            w = rng.choice(("meta", "data", "zero", "stop", "comp", "DATA",
                            "dat", "\0\0\0\0", "    "))
            return Mutant("%s@%#x kind -> '%s'" % (kind, o, w.replace(
                "\0", "\\0")), self, [(o, w.encode()[:4].ljust(4))])
        if k == "term":
            o, kind = rng.choice(self.hdrs)
            at = o + rng.choice((4, 21, 38, 39))
            v = rng.choice((b" ", b"\n", b"\r", b"\0", b"x"))
            return Mutant("%s@%#x byte %d -> %r" % (kind, o, at - o, v),
                          self, [(at, v)])
        if k == "json":
            if self.trailer and rng.random() < 0.5:
                return self.json_edit(rng, "trailer", *self.trailer)
            return self.json_edit(rng, "meta json", *self.json)
        # Whole frames: drop, duplicate or swap two headers.
        if len(self.hdrs) < 3:
            return generic(rng, self)
        i = rng.randrange(1, len(self.hdrs) - 1)
        o, kind = self.hdrs[i]
        nxt = self.hdrs[i + 1][0]
        frame = self.buf[o:nxt]
        op = rng.choice(("drop", "dup", "swap"))
        if op == "drop":
            buf = self.buf[:o] + self.buf[nxt:]
        elif op == "dup":
            buf = self.buf[:nxt] + frame + self.buf[nxt:]
        else:
            j = rng.randrange(1, len(self.hdrs))
            o2 = self.hdrs[j][0]
            h1, h2 = self.buf[o:o + 40], self.buf[o2:o2 + 40]
            buf = bytearray(self.buf)
            buf[o:o + 40], buf[o2:o2 + 40] = h2, h1
            buf = bytes(buf)
        return Mutant("%s the %s frame at %#x" % (op, kind, o), self,
                      [(0, buf)], cut=len(buf))


def make_sparse(wd):
    mk = os.path.join(TBIN, "sparse_mk")
    bases = []
    for name, args in (("std", ["std"]), ("std-lz4", ["std", "-z"]),
                       ("inc", ["std", "-i"]), ("inc-lz4", ["std", "-iz"]),
                       ("lz4-chunked", ["std", "-z", "-c", "16K"]),
                       ("noncanon", ["defect", "noncanon"]),
                       ("trailer-many", ["defect", "trailer-many"])):
        p = os.path.join(wd, name + ".data")
        try:
            run([mk] + args + [p])
        except Setup:
            if args[0] == "defect":
                continue
            raise
        bases.append(Sparse(name, p))
    return bases


# --------------------------------------------------------------------
# archive7: 4096-byte blocks, nonce, MAC, then 4056 bytes of plaintext.

A7_BLK, A7_PL, A7_HDR, A7_DATA = 4096, 4056, 48, 4008
A7_BHDR = (("prev", 0, 4), ("next", 4, 4), ("index", 8, 4),
           ("stream id", 12, 16), ("digest", 28, 20))
A7_SREC = (("id", 0, 16), ("begin", 16, 4), ("end", 20, 4),
           ("count", 24, 4), ("length", 28, 8), ("comp", 36, 2))
A7_THDR = (("kind", 0, 1), ("root", 1, 4), ("free", 5, 4), ("order", 9, 4),
           ("ref_order", 13, 4), ("value size", 17, 4))
A7_PAGE = (("kind", 0, 1), ("next", 1, 4), ("count", 5, 4))
A7_ENT = (("type", 0, 1), ("id", 1, 16), ("parent", 17, 16),
          ("owner", 33, 16), ("stream id", 49, 16), ("length", 81, 8),
          ("deleted", 89, 1), ("name", 90, 256), ("mode", 394, 2))
A7_SLOTS = ("trash", "registry", "entries", "paths", "listings")
A7_VSIZE = {1: 38, 2: 396, 3: 17, 4: 4}


class A7(Base):
    fmt = "archive7"
    ext = "ar7"

    def __init__(self, name, path, wd):
        Base.__init__(self, name, path)
        pp = path + ".plain"
        run([os.path.join(TBIN, "a7_mut"), "open", path, pp])
        with open(pp, "rb") as f:
            self.plain = f.read()
        self.nb = len(self.buf) // A7_BLK
        self.recs = []          # (slot, begin, end, count, length)
        for n in range(5):
            r = A7_HDR + A7_DATA - 38 * (5 - n)
            self.recs.append((n, self.pu(0, r + 16, 4), self.pu(0, r + 20,
                              4), self.pu(0, r + 24, 4), self.pu(0, r + 28,
                                                                  8)))

    def pu(self, b, off, w):
        p = b * A7_PL + off
        return int.from_bytes(self.plain[p:p + w], "big")

    def hot(self):
        # The ciphertext: any edit is a MAC failure, so only a few.
        return [("block 0", 0, A7_BLK), ("nonce of block 1", A7_BLK, 24)]

    def fields(self):
        return [("block count tail", len(self.buf) - 4, 4, True)]

    def cut_points(self):
        return sorted({0, 24, 40, A7_BLK - 1, A7_BLK, 2 * A7_BLK + 100,
                       len(self.buf) - A7_BLK, len(self.buf) - 1,
                       len(self.buf) // 2})

    GENERIC = 0.2

    def val(self, rng, w, cur):
        v = rng.choice(EXTREMES + (cur + 1, cur - 1, 0x7fffffff, 0x80000000,
                                   rng.randrange(self.nb + 2),
                                   rng.getrandbits(32),
                                   1 << rng.randrange(8 * w)))
        return v & ((1 << (8 * w)) - 1)

    def rec_edit(self, slot, i, off, data, sums=True):
        """Record i of tree slot's first page with data at off (from the
        record's start), its checksum made right unless sums is false:
        a plaintext edit (block, offset, bytes)."""
        b = self.tree_blocks(slot)[0]
        rsz = 4 + 16 + A7_VSIZE[slot] + 1
        r = A7_HDR + 21 + 9 + i * rsz
        rec = bytearray(self.plain[b * A7_PL + r:b * A7_PL + r + rsz])
        rec[off:off + len(data)] = data
        if sums:
            rec[rsz - 1] = sum(rec[4:rsz - 1]) & 0xff
        return (b, r, bytes(rec))

    def tree_blocks(self, slot):
        _, b, _, cnt, _ = self.recs[slot]
        out = []
        while 0 <= b < self.nb and len(out) < min(cnt, 64):
            out.append(b)
            b = self.pu(b, 4, 4)
            if b >= 1 << 31:
                break
        return out

    def targeted(self, rng):
        edits = []
        k = rng.choice(("bhdr",) * 4 + ("srec",) * 3 + ("ahdr",) +
                       ("tree",) * 3 + ("page",) * 2 + ("rec",) * 4 +
                       ("blank",))
        sums = rng.random() < 0.9
        if k == "bhdr":
            b = rng.randrange(self.nb)
            name, off, w = rng.choice(A7_BHDR)
            if name in ("stream id", "digest"):
                v = bytes(rng.getrandbits(8) for _ in range(w)) if \
                    rng.random() < 0.5 else bytes(w)
                what = "random" if any(v) else "zero"
            else:
                x = self.val(rng, w, self.pu(b, off, w))
                v, what = pack(w, x), "%#x" % x
            if name == "digest":
                sums = False
            edits.append((b, off, v))
            label = "block %d header %s = %s" % (b, name, what)
        elif k == "srec":
            n = rng.randrange(5)
            name, off, w = rng.choice(A7_SREC)
            r = A7_HDR + A7_DATA - 38 * (5 - n) + off
            if w == 16:
                v = bytes(w) if rng.random() < 0.5 else bytes(
                    rng.getrandbits(8) for _ in range(w))
                what = v.hex()
            else:
                x = self.val(rng, w, self.pu(0, r, w))
                v, what = pack(w, x), "%#x" % x
            edits.append((0, r, v))
            label = "block 0 %s record %s = %s" % (A7_SLOTS[n], name, what)
        elif k == "ahdr":
            off = A7_HDR + rng.choice((0, 9, 11, 13, 14, 15, 80, 88, 88 +
                                       rng.randrange(256)))
            v = bytes([rng.getrandbits(8)])
            edits.append((0, off, v))
            label = "block 0 archive header byte %d = %#x" % (off - A7_HDR,
                                                              v[0])
        elif k in ("tree", "page", "rec"):
            slot = rng.randrange(1, 5)
            blocks = self.tree_blocks(slot)
            if not blocks:
                return generic(rng, self)
            if k == "tree":
                name, off, w = rng.choice(A7_THDR)
                x = self.val(rng, w, self.pu(blocks[0], A7_HDR + off, w))
                edits.append((blocks[0], A7_HDR + off, pack(w, x)))
                label = "%s tree header %s = %#x" % (A7_SLOTS[slot], name,
                                                     x)
            elif k == "page":
                pg = rng.choice([0] + ([1] if slot == 4 else []))
                b = blocks[pg] if pg < len(blocks) else blocks[0]
                base = A7_HDR + (21 if pg == 0 else 0)
                name, off, w = rng.choice(A7_PAGE)
                x = self.val(rng, w, self.pu(b, base + off, w))
                if name == "kind":
                    x = ord(rng.choice("SIMX\0"))
                edits.append((b, base + off, pack(w, x)))
                label = "%s page %d %s = %#x" % (A7_SLOTS[slot], pg, name,
                                                 x)
            else:
                b = blocks[0]
                vs = A7_VSIZE[slot]
                rsz = 4 + 16 + vs + 1
                nrec = max(1, min(self.pu(b, A7_HDR + 21 + 5, 4), 8))
                i = rng.randrange(nrec)
                r = A7_HDR + 21 + 9 + i * rsz
                if r + rsz > A7_PL:
                    return generic(rng, self)
                rec = bytearray(self.plain[b * A7_PL + r:b * A7_PL + r +
                                           rsz])
                if slot == 2 and rng.random() < 0.7:
                    name, off, w = rng.choice(A7_ENT)
                    off += 20
                else:
                    name, off, w = rng.choice((("page", 0, 4), ("key", 4, 16),
                                               ("value", 20, min(vs, 8)),
                                               ("checksum", rsz - 1, 1)))
                if w > 8:
                    v = rng.choice((bytes(w), b"\xff" * w, bytes(
                        rng.getrandbits(8) for _ in range(w)),
                        b"../" * (w // 3) + bytes(w % 3),
                        b"/" + bytes(w - 1)))
                    what = v[:8].hex() + ".."
                else:
                    x = self.val(rng, w, int.from_bytes(rec[off:off + w],
                                                        "big"))
                    v, what = pack(w, x), "%#x" % x
                edits.append(self.rec_edit(slot, i, off, v, sums and
                                           name != "checksum"))
                label = "%s record %d %s = %s" % (A7_SLOTS[slot], i, name,
                                                  what)
        else:
            b = rng.randrange(1, self.nb)
            edits.append((b, 0, pack(4, 0xffffffff) * 2 + bytes(4 + 16)))
            label = "block %d made blank" % b
        if not sums:
            label += " (digest kept)"
        return Mutant(label, self, plain=edits, sums=sums)


def make_a7(wd):
    mk = os.path.join(TBIN, "a7_mk")
    bases = []
    for name, args in (("clean", []), ("orphan-blank", ["orphan-blank"]),
                       ("cycle", ["cycle"]), ("half-append",
                                              ["half-append"])):
        p = os.path.join(wd, name + ".ar7")
        run([mk, p] + args)
        bases.append(A7(name, p, wd))
    p = os.path.join(wd, "big.ar7")
    run([mk, "--big", "1", p])
    bases.append(A7("big-1m", p, wd))
    return bases


# --------------------------------------------------------------------
# Recipes of mutants that once failed: always run.

# Each: (base name, what it found, pokes [(offset, hex)], cut, and for
# archive7 tree records [(slot, record, offset in it, hex)] whose
# checksums and block digests are made right).
REGRESS = {
    "qed": [
        # imgrepair --dry-run and -o exited 1 without a word: the check
        # could not complete, and only imgcheck said so.
        ("4k-t4-backing", "backing_filename_size = 0x21: silent exit 1",
         [(0x3c, "21000000")], None, ()),
        ("4k-t2", "cluster_size = 0: refused, the JSON had no error",
         [(4, "00000000")], None, ()),
    ],
    "sparsestream": [
        # imginfo exited 1 and its JSON carried no "error".
        ("std", "meta length not hex: imginfo's JSON had no error",
         [(22, "30303030303030303030303030303878")], None, ()),
    ],
    "archive7": [
        # A file name that is not UTF-8: imgmap's JSON was not JSON.
        ("clean", "entries record 2 name = ee 93 e2 ff: JSON not UTF-8",
         [], None, [(2, 2, 20 + 90, "ee93e2ff2e62696e00")]),
    ],
}


def regress(fmt, bases):
    out = []
    byname = {b.name: b for b in bases}
    for bname, label, pokes, cut, recs in REGRESS.get(fmt, ()):
        if bname not in byname:
            continue
        b = byname[bname]
        m = Mutant("regression: " + label, b,
                   [(o, bytes.fromhex(h)) for o, h in pokes], cut=cut)
        m.plain = [b.rec_edit(slot, i, off, bytes.fromhex(h)) for
                   slot, i, off, h in recs]
        out.append(m)
    return out


# --------------------------------------------------------------------
# Running and judging.

def materialize(m, path):
    b = m.base
    if m.plain:
        pl = bytearray(b.plain)
        touched = set()
        for blk, off, data in m.plain:
            p = blk * A7_PL + off
            pl[p:p + len(data)] = data
            touched.add(blk)
        if m.sums:
            for blk in touched:
                p = blk * A7_PL
                pl[p + 28:p + 48] = hashlib.sha1(
                    bytes(pl[p + A7_HDR:p + A7_PL])).digest()
        with open(path + ".plain", "wb") as f:
            f.write(pl)
        run([os.path.join(TBIN, "a7_mut"), "seal", b.path, path + ".plain",
             path])
        os.unlink(path + ".plain")
        with open(path, "rb") as f:
            buf = bytearray(f.read())
    else:
        buf = bytearray(b.buf)
    for off, data in m.pokes:
        if off > len(buf):
            buf += bytes(off - len(buf))
        buf[off:off + len(data)] = data
    if m.cut is not None:
        del buf[m.cut:]
    buf += m.extend
    with open(path, "wb") as f:
        f.write(buf)
    return bytes(buf)


class Run:
    def __init__(self, tool, argv):
        self.tool = tool
        self.argv = argv
        self.status = 0
        self.out = b""
        self.err = b""
        self.rss = 0
        self.secs = 0.0
        self.killed = False

    @property
    def rc(self):
        return os.WEXITSTATUS(self.status) if \
            os.WIFEXITED(self.status) else -1


def execute(tool, args, tag, key, json_mode=True):
    argv = [os.path.join(BIN, tool)] + (["--output=json"] if json_mode
                                        else [])
    if key:
        argv.append("--key-file=" + key)
    argv += args
    r = Run(tool, argv)
    env = dict(os.environ)
    env.update(SAN_ENV)
    env.pop("IMGKIT_A7_KEY", None)
    with open(tag + ".out", "wb+") as fo, open(tag + ".err", "wb+") as fe:
        t0 = time.monotonic()
        for attempt in (1, 2):
            try:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=fo, stderr=fe, env=env)
                break
            except OSError:
                # A tool being linked again (a build in this tree).
                if attempt == 2:
                    raise
                time.sleep(2)

        def kill():
            r.killed = True
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        t = threading.Timer(KILL_S, kill)
        t.start()
        try:
            _, r.status, ru = os.wait4(p.pid, 0)
        finally:
            t.cancel()
        p.returncode = 0     # reaped by wait4: Popen must not wait again
        r.secs = time.monotonic() - t0
        r.rss = ru.ru_maxrss
        fo.seek(0)
        r.out = fo.read()
        fe.seek(0)
        r.err = fe.read()
    os.unlink(tag + ".out")
    os.unlink(tag + ".err")
    return r


def judge(r, prints_json=True, json_mode=True):
    """What is wrong with one run: a list of (kind, detail)."""
    bad = []
    text = r.err.decode(errors="replace")
    if r.killed:
        bad.append(("timeout", "killed after %d s" % KILL_S))
    elif os.WIFSIGNALED(r.status):
        bad.append(("signal", "killed by signal %d" %
                    os.WTERMSIG(r.status)))
    if r.secs > LIMIT_S and not r.killed:
        bad.append(("slow", "took %.1f s" % r.secs))
    if r.rss > RSS_LIMIT_KB:
        bad.append(("rss", "peak RSS %d MiB" % (r.rss // 1024)))
    if any(s in text for s in SAN_MARKS) or r.rc in (86, 87, 88):
        bad.append(("sanitizer", "sanitizer report (exit %d)" % r.rc))
        return bad
    if not os.WIFEXITED(r.status):
        return bad
    rc = r.rc
    if rc not in EXITS[r.tool]:
        bad.append(("exit", "exit %d, want one of %s" % (rc,
                                                          EXITS[r.tool])))
        return bad
    doc = None
    if not json_mode:
        pass
    elif r.out.strip():
        try:
            doc = json.loads(r.out.decode())
        except (ValueError, UnicodeDecodeError) as e:
            bad.append(("json", "exit %d, stdout is not one JSON value "
                        "(%s)" % (rc, e)))
            return bad
    elif prints_json and rc not in (1, 63):
        # 63: no check for the format (raw); qemu-img prints nothing.
        bad.append(("json", "exit %d with nothing on stdout" % rc))
    if rc != 1:
        return bad
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        bad.append(("nomsg", "exit 1 with nothing on stderr"))
        return bad
    last = lines[-1]
    prefix = r.tool + ": "
    if not last.startswith(prefix):
        bad.append(("nomsg", "exit 1, last stderr line is not "
                    "'%s: reason': %r" % (r.tool, last[:120])))
        return bad
    why = last[len(prefix):]
    if not json_mode:
        return bad
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
        bad.append(("jsonerr", "exit 1, no JSON object with an \"error\" "
                    "on stdout (stderr: %r)" % last[:120]))
    elif doc["error"] != why:
        bad.append(("jsonerr", "exit 1, JSON error %r is not the stderr "
                    "reason %r" % (doc["error"][:100], why[:100])))
    return bad


def runs(fmt, i, path, stem, buf, go, fails, seen):
    """The runs of one mutant (go runs and judges one tool)."""
    ext = os.path.splitext(path)[1][1:]
    go("imginfo", [path])
    go("imgcheck", [path])
    go("imgcheck", [path], json_mode=False)
    go("imgmap", [path])
    out = stem + "-x.raw"
    what = ["--extract=/file1.bin"] if fmt == "archive7" else ["--extract"]
    go("imgmap", what + ["-o", out, path], prints_json=False)
    go("imgrepair", ["-r", "all", "--dry-run", path])
    new = stem + "-new." + ext
    r = go("imgrepair", ["-r", "all", "-o", new, path])
    if r.rc in (0, 2, 3) and os.path.exists(new):
        r = go("imgcheck", ["-f", fmt, new])
        if r.rc in (2, 3):
            # Not a failure here: what -r all could not make right.
            try:
                left = json.loads(r.out.decode()).get("findings-by-code")
                seen.extend("left " + c for c in left or {})
            except (ValueError, UnicodeDecodeError, AttributeError):
                pass
    if i % 4 == 0:
        cp = stem + "-ip." + ext
        undo = stem + ".undo"
        shutil.copyfile(path, cp)
        r = go("imgrepair", ["-r", "all", "--in-place", "--undo=" + undo,
                             cp])
        if os.path.exists(undo):
            go("imgrepair", ["--apply-undo=" + undo, cp])
        with open(cp, "rb") as f:
            after = f.read()
        if after != buf:
            fails.append(("imgrepair --in-place/--apply-undo", "undo",
                          "the image after undo differs from the mutant "
                          "(%d vs %d bytes%s)" % (len(after), len(buf),
                                                  "" if os.path.exists(undo)
                                                  else ", no undo file"),
                          r.err.decode(errors="replace")))


def one(fmt, i, m, wd, key):
    """All the runs of mutant i: (i, m, [(tool args, kind, detail, err)])."""
    ext = m.base.ext
    stem = os.path.join(wd, "m%04d" % i)
    path = stem + "." + ext
    try:
        buf = materialize(m, path)
    except (Setup, OSError) as e:
        return i, m, [("materialize", "setup", str(e), "", "")], 0, []
    except BaseException as e:
        return i, m, [("materialize", "setup", repr(e), "", "")], 0, []
    fails = []
    nrun = 0
    seen = []
    peak = [0.0, 0]

    def go(tool, args, prints_json=True, json_mode=True):
        nonlocal nrun
        nrun += 1
        r = execute(tool, args, "%s-%d" % (stem, nrun), key, json_mode)
        opt = [x.split("=")[0] for x in args if x.startswith("--") and
               x not in ("--output=json",)] + (["-o"] if "-o" in args
                                               else [])
        seen.append("%s %s%s-> %d" % (tool, "".join(x + " " for x in opt),
                                      "(human) " if not json_mode else "",
                                      r.rc))
        peak[0] = max(peak[0], r.secs)
        peak[1] = max(peak[1], r.rss)
        for kind, why in judge(r, prints_json, json_mode):
            fails.append((" ".join([tool] + args).replace(wd + "/", ""),
                          kind, why, r.err.decode(errors="replace")))
        return r

    try:
        runs(fmt, i, path, stem, buf, go, fails, seen)
    except OSError as e:
        fails.append(("harness", "setup", "cannot run a tool: %s" % e, ""))
    kept = ""
    if fails:
        os.makedirs(KEEP, exist_ok=True)
        kept = os.path.join(KEEP, "%s-m%04d.%s" % (fmt, i, ext))
        shutil.copyfile(path, kept)
        if i % 4 == 0 and os.path.exists(stem + ".undo"):
            shutil.copyfile(stem + ".undo", kept + ".undo")
        with open(kept + ".txt", "w") as f:
            f.write("seed %d, %s mutant %d of base %s: %s\n" % (
                SEED, fmt, i, m.base.name, m.label))
            for what, kind, why, err in fails:
                f.write("\n%s: %s: %s\n%s" % (what, kind, why, err))
    for p in os.listdir(wd):
        if p.startswith("m%04d" % i):
            try:
                os.unlink(os.path.join(wd, p))
            except IsADirectoryError:
                shutil.rmtree(os.path.join(wd, p))
    seen.append(("peak", peak))
    return i, m, [(w, k, y, e, kept) for w, k, y, e in fails], nrun, seen


MAKERS = {"qcow2": make_qcow2, "qed": make_qed,
          "sparsestream": make_sparse, "archive7": make_a7}


def main():
    if len(sys.argv) < 2:
        print("usage: hostile.py WORKDIR [FORMAT...]", file=sys.stderr)
        return 1
    wd = sys.argv[1]
    fmts = sys.argv[2:] or list(MAKERS)
    only = None
    if ONLY:
        f, _, i = ONLY.partition(":")
        fmts, only = [f], int(i)
    for t in list(EXITS) + []:
        if not os.access(os.path.join(BIN, t), os.X_OK):
            print("hostile: %s not built" % os.path.join(BIN, t),
                  file=sys.stderr)
            return 1
    key = os.path.join(wd, "a7.key")
    with open(key, "w") as f:
        f.write(A7_KEY + "\n")
    total_bad = 0
    for fmt in fmts:
        fwd = os.path.join(wd, fmt)
        os.makedirs(fwd, exist_ok=True)
        t0 = time.monotonic()
        try:
            bases = MAKERS[fmt](fwd)
        except (Setup, subprocess.TimeoutExpired, OSError) as e:
            print("hostile: %s: cannot build the base images: %s" %
                  (fmt, e), file=sys.stderr)
            total_bad += 1
            continue
        if not bases:
            # A missing oracle is a failure, never a silent pass.
            print("hostile: %s: FAIL: qemu-img or qemu-io not found "
                  "(make deps installs them)" % fmt, file=sys.stderr)
            total_bad += 1
            continue
        muts = []
        for i in range(N):
            rng = random.Random("%d-%s-%d" % (SEED, fmt, i))
            muts.append(rng.choice(bases).mutate(rng))
        muts += regress(fmt, bases)
        idx = range(len(muts)) if only is None else [only]
        kinds = {}
        stats = {}
        left = {}
        slow, fat = 0.0, 0
        runs = 0
        nbad = 0
        k = key if fmt == "archive7" else None
        with concurrent.futures.ThreadPoolExecutor(JOBS) as ex:
            futs = [ex.submit(one, fmt, i, muts[i], fwd, k) for i in idx]
            for fu in futs:
                i, m, fails, nrun, seen = fu.result()
                runs += nrun
                for x in seen:
                    if isinstance(x, tuple):
                        slow = max(slow, x[1][0])
                        fat = max(fat, x[1][1])
                        continue
                    if x.startswith("left "):
                        left[x[5:]] = left.get(x[5:], 0) + 1
                        continue
                    stats[x] = stats.get(x, 0) + 1
                if not fails:
                    continue
                nbad += 1
                for what, kind, why, err, kept in fails:
                    kinds[kind] = kinds.get(kind, 0) + 1
                    print("hostile: FAIL %s m%04d (%s: %s): %s: %s [%s]" %
                          (fmt, i, m.base.name, m.label, what, why, kept))
                    if VERBOSE or kind in ("sanitizer", "signal"):
                        for ln in err.strip().splitlines()[:40]:
                            print("    " + ln)
        total_bad += nbad
        if STATS:
            print("hostile: %s exits: %s" % (fmt, ", ".join(
                "%s: %d" % kv for kv in sorted(stats.items()))))
            if left:
                print("hostile: %s: left after -r all -o (mutants by "
                      "code): %s" % (fmt, ", ".join(
                          "%s %d" % kv for kv in sorted(
                              left.items(), key=lambda kv: -kv[1]))))
        print("hostile: %s: %d mutants, %d runs, %d failing mutants%s, "
              "%.1f s (slowest run %.2f s, largest %d MiB)" % (
                  fmt, len(idx), runs, nbad, "" if not kinds else
                  " (" + ", ".join("%s %d" % kv for kv in
                                   sorted(kinds.items())) + ")",
                  time.monotonic() - t0, slow, fat // 1024))
        sys.stdout.flush()
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
