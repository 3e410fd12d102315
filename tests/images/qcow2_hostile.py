# SPDX-License-Identifier: MIT
# qcow2_hostile.py --- ~300 mutated qcow2 images through the tools: no crashes.
#
# Usage: python3 qcow2_hostile.py WORKDIR   (env B = build dir, V=1 verbose,
# SEED=n another mutation sequence, KEEP=dir to keep the images that fail).
# A few clean images are made with qemu-img and qemu-io (snapshots, bitmaps,
# compressed clusters, version 2 and 3, small and large clusters); then a
# seeded random generator applies one mutation to a copy of one of them:
# a flipped byte in the header, the extension area, an L1, L2, refcount or
# snapshot table or the bitmap directory; a field set to 0, 0xffffffff,
# 2^63 or 2^64-1; a truncation; or a cycle (an L1 entry naming the L1
# table, an L2 entry naming the header, ...).  Each image goes through the
# three tools with --output=json and a 10 s timeout.  We do not ask what
# they find, only that they survive: no signal, no timeout, no sanitizer
# report, an exit status from the documented set, JSON on stdout when they
# succeed, a message on stderr when they fail, and at most 512 MiB of peak
# RSS (os.wait4).  Prints one line per failure with the mutation that
# caused it, then "qcow2 hostile: N mutations, M crashes"; exits 1 on any
# failure.  Python 3 standard library only.

import concurrent.futures
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading

B = os.environ.get("B", "build")
BIN = os.path.join(B, "bin")
VERBOSE = os.environ.get("V", "") not in ("", "0")
SEED = int(os.environ.get("SEED", "20261122"))
KEEP = os.environ.get("KEEP", "")
TIMEOUT = 10
RSS_LIMIT_KB = 512 * 1024
NMUT = 300

OFF_MASK = 0x00fffffffffffe00
COPIED = 1 << 63
COMPRESSED = 1 << 62
EXT_BITMAPS = 0x23852875
EXTREMES = (0, 0xffffffff, 1 << 63, (1 << 64) - 1)

# Exit statuses each tool may use (STYLE.md section 10).
TOOLS = (
    ("imgcheck", (0, 1, 2, 3)),
    ("imginfo", (0, 1)),
    ("imgmap", (0, 1)),
)
# Our sanitizers exit with these, so a report is never taken for exit 1.
SAN_ENV = {
    "ASAN_OPTIONS": "exitcode=86:detect_leaks=1:allocator_may_return_null=1",
    "UBSAN_OPTIONS": "exitcode=87:print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": "exitcode=88",
}
SAN_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
             "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")

# Header fields: (name, offset, width), "Header", qcow2 spec.
HDR_FIELDS = (
    ("magic", 0, 4), ("version", 4, 4), ("backing_file_offset", 8, 8),
    ("backing_file_size", 16, 4), ("cluster_bits", 20, 4), ("size", 24, 8),
    ("crypt_method", 32, 4), ("l1_size", 36, 4), ("l1_table_offset", 40, 8),
    ("refcount_table_offset", 48, 8), ("refcount_table_clusters", 56, 4),
    ("nb_snapshots", 60, 4), ("snapshots_offset", 64, 8),
    ("incompatible", 72, 8), ("compatible", 80, 8), ("autoclear", 88, 8),
    ("refcount_order", 96, 4), ("header_length", 100, 4),
)
SNAP_FIELDS = (("l1_table_offset", 0, 8), ("l1_size", 8, 4),
               ("id_size", 12, 2), ("name_size", 14, 2),
               ("vm_state_size", 32, 4), ("extra_data_size", 36, 4))
BMDIR_FIELDS = (("table_offset", 0, 8), ("table_size", 8, 4),
                ("flags", 12, 4), ("type", 16, 1), ("granularity", 17, 1),
                ("name_size", 18, 2), ("extra", 20, 4))
BMEXT_FIELDS = (("nb_bitmaps", 0, 4), ("reserved", 4, 4),
                ("dir_size", 8, 8), ("dir_offset", 16, 8))


class Setup(Exception):
    """A base image could not be built."""


def run(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise Setup("%s: %s" % (" ".join(argv),
                                r.stderr.decode(errors="replace").strip()))


def qemu_io(path, *cmds):
    argv = ["qemu-io"]
    for c in cmds:
        argv += ["-c", c]
    run(argv + [path])


class Base:
    """A clean image and the places in it worth damaging."""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        with open(path, "rb") as f:
            self.buf = f.read()
        b = self.buf
        self.version = self.u32(4)
        self.cs = 1 << self.u32(20)
        self.l1_size = self.u32(36)
        self.l1_off = self.u64(40)
        self.rt_off = self.u64(48)
        self.rt_clusters = self.u32(56)
        self.nb_snap = self.u32(60)
        self.snap_off = self.u64(64)
        self.hdr_len = self.u32(100) if self.version >= 3 else 72
        self.l2 = sorted({e & OFF_MASK for e in self.table(self.l1_off,
                          self.l1_size) if e & OFF_MASK})
        self.rb = sorted({e & ~0x1ff for e in self.table(self.rt_off,
                          self.rt_clusters * self.cs // 8) if e & ~0x1ff})
        # Extensions: (type, offset of the 8-byte header, length).
        self.exts = []
        p = self.hdr_len
        while p + 8 <= min(self.cs, len(b)):
            typ, ln = struct.unpack_from(">II", b, p)
            if typ == 0:
                break
            self.exts.append((typ, p, ln))
            p += 8 + (ln + 7) // 8 * 8
        self.ext_end = p + 8
        # Snapshot records: offset of each, and its L1 table.
        self.snaps = []
        p = self.snap_off
        for _ in range(self.nb_snap):
            p = (p + 7) & ~7
            l1o, l1n, ids, names = struct.unpack_from(">QIHH", b, p)
            extra = self.u32(p + 36)
            self.snaps.append((p, l1o, l1n))
            p += 40 + extra + ids + names
        self.snap_end = p
        self.bm_ext = None
        self.bm_dir = []
        for typ, p, ln in self.exts:
            if typ == EXT_BITMAPS and ln == 24:
                self.bm_ext = p + 8
                nb = self.u32(p + 8)
                q = self.u64(p + 24)
                for _ in range(nb):
                    self.bm_dir.append(q)
                    ns, extra = self.u16(q + 18), self.u32(q + 20)
                    q += (24 + extra + ns + 7) & ~7
        self.bm_tables = [self.u64(q) for q in self.bm_dir]

    def u16(self, off):
        return struct.unpack_from(">H", self.buf, off)[0]

    def u32(self, off):
        return struct.unpack_from(">I", self.buf, off)[0]

    def u64(self, off):
        return struct.unpack_from(">Q", self.buf, off)[0]

    def table(self, off, n):
        n = min(n, max(0, (len(self.buf) - off) // 8))
        return struct.unpack_from(">%dQ" % n, self.buf, off) if n else ()

    def regions(self):
        """Named byte ranges a flip may hit, all inside the file."""
        r = [("header", 0, self.hdr_len),
             ("l1", self.l1_off, self.l1_size * 8),
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
        return [x for x in r if x[2] > 0 and x[1] + x[2] <= len(self.buf)]

    def fields(self):
        """Named fields a value may be written to: (name, off, width)."""
        f = [("header." + n, o, w) for n, o, w in HDR_FIELDS
             if o + w <= self.hdr_len]
        if self.version >= 3 and self.hdr_len > 104:
            f.append(("header.compression_type", 104, 1))
        for i in range(min(self.l1_size, 4)):
            f.append(("l1[%d]" % i, self.l1_off + 8 * i, 8))
        for o in self.l2[:2]:
            for j in (0, 1, 2, 3, self.cs // 8 - 1):
                f.append(("l2@%#x[%d]" % (o, j), o + 8 * j, 8))
        for i in range(min(self.rt_clusters * self.cs // 8, 2)):
            f.append(("reftable[%d]" % i, self.rt_off + 8 * i, 8))
        for o in self.rb[:1]:
            for j in (0, 1, 2, 3):
                f.append(("refblock@%#x[%d]" % (o, j), o + 2 * j, 2))
        for k, (p, _, _) in enumerate(self.snaps):
            for n, o, w in SNAP_FIELDS:
                f.append(("snap[%d].%s" % (k, n), p + o, w))
        for typ, p, _ in self.exts:
            f.append(("ext %#x.length" % typ, p + 4, 4))
        if self.bm_ext is not None:
            for n, o, w in BMEXT_FIELDS:
                f.append(("bitmaps-ext." + n, self.bm_ext + o, w))
        for k, p in enumerate(self.bm_dir):
            for n, o, w in BMDIR_FIELDS:
                f.append(("bitmap[%d].%s" % (k, n), p + o, w))
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
        c = []
        cp = COPIED
        if self.l1_size:
            c.append(("l1[0] -> the L1 table", self.l1_off,
                      self.l1_off | cp))
            c.append(("l1[0] -> the header", self.l1_off, cp))
            c.append(("l1[0] -> the refcount table", self.l1_off,
                      self.rt_off | cp))
            if self.rb:
                c.append(("l1[0] -> a refcount block", self.l1_off,
                          self.rb[0] | cp))
        if self.l1_size > 1 and self.l2:
            c.append(("l1[1] -> the L2 table of l1[0]", self.l1_off + 8,
                      self.l2[0] | cp))
        if self.l2:
            o = self.l2[0]
            c.append(("l2[0] -> the header", o, cp | 0))
            c.append(("l2[0] -> its own L2 table", o, o | cp))
            c.append(("l2[1] -> the L1 table", o + 8, self.l1_off | cp))
            c.append(("l2[2] -> the refcount table", o + 16,
                      self.rt_off | cp))
            c.append(("l2[0] compressed, maximal length", o,
                      COMPRESSED | ((1 << 62) - 1)))
            c.append(("l2[0] compressed at the header", o, COMPRESSED))
        c.append(("reftable[0] -> the L1 table", self.rt_off,
                  self.l1_off))
        c.append(("reftable[0] -> the header", self.rt_off, 0x200))
        c.append(("reftable[0] -> the refcount table", self.rt_off,
                  self.rt_off))
        for k, (p, _, _) in enumerate(self.snaps[:1]):
            c.append(("snap[%d] L1 -> the active L1" % k, p,
                      self.l1_off))
            c.append(("snap[%d] L1 -> the header" % k, p, 0))
            c.append(("snap[%d] L1 -> the snapshot table" % k, p,
                      self.snap_off))
        for k, p in enumerate(self.bm_dir[:1]):
            c.append(("bitmap[%d] table -> the header" % k, p, self.cs))
            c.append(("bitmap[%d] table -> the L1 table" % k, p,
                      self.l1_off))
            c.append(("bitmap[%d] table -> the bitmap directory" % k, p,
                      p & ~(self.cs - 1)))
        if self.bm_tables:
            t = self.bm_tables[0]
            c.append(("bitmap table[0] -> the bitmap table", t, t))
            c.append(("bitmap table[0] -> the header", t, self.cs))
        return [x for x in c if x[1] + 8 <= len(self.buf)]


def make_bases(wd):
    """The clean images.  Each spec: name, create options, size, steps."""
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
    )
    bases = []
    for name, opts, size, steps in specs:
        p = os.path.join(wd, name + ".qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, p, size])
        for s in steps:
            if s == "w":
                qemu_io(p, "write -P 0x11 0 12k", "write -z 64k 4k",
                        "write -P 0x22 128k 4k")
            elif s == "w2":
                qemu_io(p, "write -P 0x33 4k 4k", "write -P 0x44 160k 8k")
            elif s == "snap":
                run(["qemu-img", "snapshot", "-c", "s1", p])
                qemu_io(p, "write -P 0x55 8k 2k")
                run(["qemu-img", "snapshot", "-c", "s2", p])
            elif s == "bitmap":
                run(["qemu-img", "bitmap", "--add", p, "b0"])
                run(["qemu-img", "bitmap", "--add", "-g", "65536", p, "b1"])
            elif s == "compress":
                qemu_io(p, "write -c -P 0x66 192k 4k")
        bases.append(Base(name, p))
    return bases


def pack(width, v):
    v &= (1 << (8 * width)) - 1
    return v.to_bytes(width, "big")


def mutations(bases, rng, n):
    """n mutations: (label, base, list of (offset, bytes), truncate-at)."""
    out = []
    kinds = ("flip",) * 30 + ("field",) * 35 + ("cut",) * 15 + \
        ("cycle",) * 15 + ("multi",) * 5
    for _ in range(n):
        b = rng.choice(bases)
        k = rng.choice(kinds)
        if k == "flip":
            name, off, ln = rng.choice(b.regions())
            at = off + rng.randrange(ln)
            x = rng.randrange(1, 256)
            out.append(("flip %s byte %#x ^= %#04x" % (name, at, x), b,
                        [(at, bytes([b.buf[at] ^ x]))], None))
        elif k == "field":
            name, off, w = rng.choice(b.fields())
            v = rng.choice(EXTREMES + (rng.getrandbits(64),
                                       1 << rng.randrange(8 * w)))
            out.append(("set %s (%#x, %d bytes) = %#x" % (name, off, w,
                        v & ((1 << (8 * w)) - 1)), b, [(off, pack(w, v))],
                        None))
        elif k == "cut":
            pts = b.cut_points()
            at = rng.choice(pts) if rng.random() < 0.6 else \
                rng.randrange(len(b.buf))
            out.append(("truncate at %#x (of %#x)" % (at, len(b.buf)), b,
                        [], at))
        elif k == "cycle":
            name, off, v = rng.choice(b.cycles())
            out.append(("cycle: %s (%#x = %#x)" % (name, off, v), b,
                        [(off, pack(8, v))], None))
        else:
            pokes, what = [], []
            for _ in range(rng.randrange(2, 6)):
                name, off, w = rng.choice(b.fields())
                v = rng.choice(EXTREMES)
                pokes.append((off, pack(w, v)))
                what.append("%s (%#x) = %#x" % (name, off,
                            v & ((1 << (8 * w)) - 1)))
            out.append(("set " + ", ".join(what), b, pokes, None))
    return out


def materialize(wd, i, m):
    label, b, pokes, cut = m
    buf = bytearray(b.buf)
    for off, data in pokes:
        buf[off:off + len(data)] = data
    if cut is not None:
        del buf[cut:]
    p = os.path.join(wd, "m%03d.qcow2" % i)
    with open(p, "wb") as f:
        f.write(buf)
    return p


def run_tool(tool, path, wd, tag):
    """Run one tool: (status word, stdout, stderr, peak RSS in KiB, timeout)."""
    out = os.path.join(wd, tag + ".out")
    err = os.path.join(wd, tag + ".err")
    env = dict(os.environ)
    env.update(SAN_ENV)
    with open(out, "wb") as fo, open(err, "wb") as fe:
        p = subprocess.Popen([os.path.join(BIN, tool), "--output=json",
                              path], stdin=subprocess.DEVNULL, stdout=fo,
                             stderr=fe, env=env)
    timed_out = []

    def kill():
        timed_out.append(True)
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    t = threading.Timer(TIMEOUT, kill)
    t.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        t.cancel()
    p.returncode = 0   # reaped by wait4: keep Popen from waiting again
    with open(out, "rb") as f:
        so = f.read()
    with open(err, "rb") as f:
        se = f.read()
    os.unlink(out)
    os.unlink(err)
    return status, so, se, ru.ru_maxrss, bool(timed_out)


def judge(tool, allowed, status, so, se, rss, timed_out):
    """Problems with one run, as a list of strings (empty: fine)."""
    bad = []
    text = se.decode(errors="replace")
    if timed_out:
        bad.append("timeout after %d s" % TIMEOUT)
    elif os.WIFSIGNALED(status):
        bad.append("killed by signal %d" % os.WTERMSIG(status))
    elif os.WIFEXITED(status):
        rc = os.WEXITSTATUS(status)
        if any(s in text for s in SAN_MARKS) or rc in (86, 87, 88):
            bad.append("sanitizer report (exit %d)" % rc)
        elif rc not in allowed:
            bad.append("exit %d, want one of %s" % (rc, allowed))
        elif rc == 1:
            if not se.strip():
                bad.append("exit 1 with an empty stderr")
        else:
            try:
                json.loads(so.decode())
            except (ValueError, UnicodeDecodeError) as e:
                bad.append("exit %d but stdout is not JSON (%s)" % (rc, e))
    if rss > RSS_LIMIT_KB:
        bad.append("peak RSS %d MiB > 512 MiB" % (rss // 1024))
    return bad


def one(wd, i, m):
    path = materialize(wd, i, m)
    fails = []
    for tool, allowed in TOOLS:
        status, so, se, rss, to = run_tool(tool, path, wd, "m%03d-%s" %
                                           (i, tool))
        for why in judge(tool, allowed, status, so, se, rss, to):
            fails.append((tool, why, se.decode(errors="replace")))
    if fails and KEEP:
        os.makedirs(KEEP, exist_ok=True)
        shutil.copy(path, os.path.join(KEEP, "m%03d.qcow2" % i))
    os.unlink(path)
    return i, m, fails


def main():
    if len(sys.argv) != 2:
        print("usage: qcow2_hostile.py WORKDIR", file=sys.stderr)
        return 1
    wd = sys.argv[1]
    for tool, _ in TOOLS:
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            print("qcow2 hostile: %s not built" % os.path.join(BIN, tool),
                  file=sys.stderr)
            return 1
    try:
        bases = make_bases(wd)
    except (Setup, subprocess.TimeoutExpired) as e:
        print("qcow2 hostile: cannot build the base images: %s" % e,
              file=sys.stderr)
        return 1
    rng = random.Random(SEED)
    muts = mutations(bases, rng, NMUT)
    crashes = 0
    jobs = max(2, min(8, os.cpu_count() or 2))
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        futs = [ex.submit(one, wd, i, m) for i, m in enumerate(muts)]
        for fu in futs:
            i, m, fails = fu.result()
            if not fails:
                continue
            crashes += 1
            for tool, why, err in fails:
                print("qcow2 hostile: m%03d %s on %s (seed %d): %s: %s" %
                      (i, m[0], m[1].name, SEED, tool, why))
                if VERBOSE or "sanitizer" in why:
                    for ln in err.strip().splitlines()[:40]:
                        print("    " + ln)
    print("qcow2 hostile: %d mutations, %d crashes" % (len(muts), crashes))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
