# SPDX-License-Identifier: MIT
# mapdiff.py --- differential acceptance suite: imgmap/imginfo against
# qemu-img map, info and convert on images qemu-img and qemu-io build.
#
# Usage: python3 mapdiff.py WORKDIR   (env B = build dir, V=1 verbose,
# CASES=substring runs a subset).  Every image is made in its own
# directory under WORKDIR by qemu-img create and qemu-io (write, write -z,
# discard, write -c) and, for damage, one or two big-endian pokes whose
# offsets are computed from the header.  Then, for each image:
#
#   map      imgmap --output=json IMG  vs  qemu-img map --output=json IMG:
#            same exit status; when qemu succeeds, the same number of
#            entries and, in each, every key qemu prints with qemu's value
#            (ours may add keys: "compressed", "owner", "damage").
#   info     imginfo --output=json IMG  vs  qemu-img info --output=json IMG:
#            same exit status; every key qemu prints, recursively, with
#            qemu's value (no key is skipped; actual-size included).
#   extract  imgmap --extract -o OUT IMG  vs  qemu-img convert -O raw:
#            byte-identical when qemu converts; ours exits non-zero when
#            qemu cannot convert.
#            When qemu cannot open the image ("Could not open"), map and
#            info also need ours to print a JSON object with "error".
#   force    on damaged tables, imgmap --force --output=json exits 0 and a
#            run overlapping the damaged guest range carries "damage".
#   range    imgmap --start-offset/--max-length vs qemu-img map's.
#
# Both tools run in the image's directory with the same relative name, so
# "filename" and "full-backing-filename" must agree verbatim.  Prints one
# line per failing comparison and a summary line; exits 1 when any
# comparison fails.  Python 3 standard library only.

import concurrent.futures
import filecmp
import json
import os
import struct
import subprocess
import sys
import time

from qcow2hdr import OFF_MASK, Qcow2Header

B = os.path.abspath(os.environ.get("B", "build"))
IMGINFO = os.path.join(B, "bin", "imginfo")
IMGMAP = os.path.join(B, "bin", "imgmap")
VERBOSE = os.environ.get("V", "") not in ("", "0")
TIMEOUT = 30

KB = 1024
MB = 1024 * KB
GB = 1024 * MB


class Setup(Exception):
    """The image could not be built or poked as the case expects."""


def run(argv, cwd, inp=None):
    """Run argv in cwd; return (status, stdout, stderr) as text."""
    try:
        p = subprocess.run(argv, cwd=cwd, input=inp, capture_output=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %ds" % TIMEOUT
    except OSError as e:
        return 127, "", str(e)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def must(argv, cwd):
    """Run a build step; raise Setup when it fails."""
    rc, out, err = run(argv, cwd)
    if rc != 0:
        msg = (err.strip() or out.strip() or "?").splitlines()[-1]
        raise Setup("%s: exit %d: %s" % (" ".join(argv), rc, msg[:200]))
    return out


class Ctx:
    """One image's directory and the build helpers a case uses."""

    def __init__(self, d):
        self.d = d

    def path(self, name):
        return os.path.join(self.d, name)

    def create(self, name, size, fmt="qcow2", opts=None, backing=None,
               bfmt=None, extra=()):
        argv = ["qemu-img", "create", "-q", "-f", fmt]
        argv += list(extra)
        if opts:
            argv += ["-o", opts]
        if backing is not None:
            argv += ["-b", backing]
            if bfmt:
                argv += ["-F", bfmt]
        argv += [name, str(size)]
        must(argv, self.d)
        return name

    def io(self, name, *cmds, fmt=None):
        argv = ["qemu-io"]
        if fmt:
            argv += ["-f", fmt]
        for c in cmds:
            argv += ["-c", c]
        argv.append(name)
        out = must(argv, self.d)
        # qemu-io reports a failed command on stdout with exit 0.
        for line in out.splitlines():
            if "failed" in line or "error" in line.lower():
                raise Setup("qemu-io %s: %s" % (name, line))

    def raw(self, name, size, writes=()):
        """A raw file of size bytes (sparse) with (offset, bytes) written."""
        with open(self.path(name), "wb") as f:
            f.truncate(size)
            for off, data in writes:
                f.seek(off)
                f.write(data)
        return name

    def truncate(self, name, size):
        os.truncate(self.path(name), size)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return bytearray(f.read())

    def write(self, name, buf):
        with open(self.path(name), "r+b") as f:
            f.write(buf)


class Q2(Qcow2Header):
    """Just enough qcow2 to compute where a poke goes (big endian)."""

    error = Setup

    def __init__(self, buf):
        super().__init__(buf)
        self.hdr_len = self.header_length
        self.esz = self.l2_esz

    def host(self, guest):
        """Host offset of the data cluster holding guest (0 if none)."""
        return self.u64(self.l2_entry_at(guest)) & OFF_MASK

    def exts(self):
        """Header extensions: [(offset of the 8-byte header, type, len)]."""
        out = []
        off = self.hdr_len
        while off + 8 <= self.cs:
            t, n = struct.unpack_from(">II", self.buf, off)
            if t == 0:
                break
            out.append((off, t, n))
            off += 8 + ((n + 7) & ~7)
        return out


# ---------------------------------------------------------------- cases
#
# A case builds its image(s) in c.d and returns a dict: "img" (the name
# both tools are given), optionally "damage" (guest start, length) for the
# force comparison and "ranges" [(start, max-length or None)].

CASES = []


def case(name):
    def reg(fn):
        CASES.append((name, fn))
        return fn
    return reg


STD_WRITES = ("write -P 0x11 0 64k", "write -P 0x22 1M 4k",
              "write -P 0x33 10M 192k", "write -P 0x44 63M 1M")


@case("q3-clean")
def _(c):
    c.create("img.qcow2", 64 * MB)
    c.io("img.qcow2", *STD_WRITES)
    return {"img": "img.qcow2",
            "ranges": [(0, 64 * KB), (1000, 3000), (1 * MB, 1 * MB),
                       (10 * MB + 4 * KB, None), (64 * MB, None),
                       (100 * MB, 4 * KB), (63 * MB, 8 * MB),
                       (512, 10 * MB)]}


@case("q2-clean")
def _(c):
    c.create("img.qcow2", 64 * MB, opts="compat=0.10")
    c.io("img.qcow2", *STD_WRITES)
    return {"img": "img.qcow2"}


@case("q3-empty")
def _(c):
    c.create("img.qcow2", 64 * MB)
    return {"img": "img.qcow2"}


@case("q3-odd-size")
def _(c):
    c.create("img.qcow2", 1 * MB + 512)
    c.io("img.qcow2", "write -P 0x55 1M 512", "write -P 0x56 0 512")
    return {"img": "img.qcow2"}


@case("q3-many-l2")
def _(c):
    # 4k clusters: each L2 table maps 2M, so the map crosses 128 L1 entries.
    c.create("img.qcow2", 256 * MB, opts="cluster_size=4k")
    c.io("img.qcow2", "write -P 1 0 64k", "write -P 2 2044k 8k",
         "write -P 3 128M 4k", "write -P 4 %d 4k" % (256 * MB - 4 * KB))
    return {"img": "img.qcow2"}


@case("q3-refcount1-lazy")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="refcount_bits=1,lazy_refcounts=on")
    c.io("img.qcow2", "write -P 1 0 64k", "write -P 2 3M 100k")
    return {"img": "img.qcow2"}


@case("q3-snapshot")
def _(c):
    c.create("img.qcow2", 16 * MB)
    c.io("img.qcow2", "write -P 1 0 128k", "write -P 2 4M 64k")
    must(["qemu-img", "snapshot", "-c", "snap1", "img.qcow2"], c.d)
    c.io("img.qcow2", "write -P 3 0 4k", "write -P 4 8M 64k")
    return {"img": "img.qcow2"}


COMP_WRITES = ("write -c -P 0x61 0 64k", "write -c -P 0x62 1M 128k",
               "write -P 0x63 2M 64k", "write -c -P 0x64 15M 64k")


@case("q3-zlib")
def _(c):
    c.create("img.qcow2", 16 * MB)
    c.io("img.qcow2", *COMP_WRITES)
    return {"img": "img.qcow2"}


@case("q2-zlib")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="compat=0.10")
    c.io("img.qcow2", *COMP_WRITES)
    return {"img": "img.qcow2"}


@case("q3-zstd")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="compression_type=zstd")
    c.io("img.qcow2", *COMP_WRITES)
    return {"img": "img.qcow2"}


@case("q3-zero")
def _(c):
    c.create("img.qcow2", 16 * MB)
    c.io("img.qcow2", "write -P 0x11 0 256k", "write -z 0 64k",
         "write -z 128k 4k", "write -z 1M 64k", "write -z 2M 4k",
         "write -z 4M 1M")
    return {"img": "img.qcow2"}


@case("q3-zero-unmap")
def _(c):
    c.create("img.qcow2", 16 * MB)
    c.io("img.qcow2", "write -P 0x11 0 512k", "write -z -u 0 128k",
         "write -z -u 192k 4k", "write -z -u 256k 64k", "write -z -u 2M 1M")
    return {"img": "img.qcow2"}


@case("q2-zero")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="compat=0.10")
    c.io("img.qcow2", "write -P 0x11 0 256k", "write -z 0 64k",
         "write -z 1M 64k", "write -z -u 128k 64k")
    return {"img": "img.qcow2"}


@case("q3-discard")
def _(c):
    c.create("img.qcow2", 16 * MB)
    c.io("img.qcow2", "write -P 0x11 0 1M", "discard 256k 256k",
         "discard 600k 4k", "write -P 0x12 4M 64k", "discard 4M 64k")
    return {"img": "img.qcow2"}


@case("q2-discard")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="compat=0.10")
    c.io("img.qcow2", "write -P 0x11 0 1M", "discard 256k 256k")
    return {"img": "img.qcow2"}


@case("q3-extl2")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="extended_l2=on")
    c.io("img.qcow2", "write -P 1 0 4k", "write -P 2 8k 4k",
         "write -P 3 130k 4k", "write -z 72k 4k", "write -z 1M 64k",
         "write -P 4 2M 64k", "write -z 2M 6k", "write -z -u 3M 6k",
         "write -c -P 5 4M 64k")
    return {"img": "img.qcow2",
            "ranges": [(0, 10 * KB), (6 * KB, 128 * KB), (2 * MB + 2 * KB,
                                                          None)]}


@case("q3-extl2-zero")
def _(c):
    c.create("img.qcow2", 8 * MB, opts="extended_l2=on,cluster_size=128k")
    c.io("img.qcow2", "write -P 1 0 128k", "write -z 4k 8k",
         "write -z -u 64k 16k", "write -z 1M 12k", "discard 2M 4k")
    return {"img": "img.qcow2"}


@case("q3-cs512")
def _(c):
    c.create("img.qcow2", 4 * MB, opts="cluster_size=512")
    c.io("img.qcow2", "write -P 1 0 4k", "write -P 2 100k 1k",
         "write -P 3 1536k 512", "write -c -P 4 2M 512", "write -z 3M 2k")
    return {"img": "img.qcow2"}


@case("q3-cs2M")
def _(c):
    c.create("img.qcow2", 64 * MB, opts="cluster_size=2M")
    c.io("img.qcow2", "write -P 1 0 4k", "write -P 2 3M 64k",
         "write -z 8M 2M", "write -c -P 3 12M 2M")
    return {"img": "img.qcow2"}


@case("q2-prealloc-meta")
def _(c):
    c.create("img.qcow2", 64 * MB, opts="compat=0.10,preallocation=metadata")
    return {"img": "img.qcow2"}


@case("q3-prealloc-meta")
def _(c):
    c.create("img.qcow2", 64 * MB, opts="preallocation=metadata")
    return {"img": "img.qcow2"}


@case("q3-prealloc-meta-written")
def _(c):
    c.create("img.qcow2", 64 * MB, opts="preallocation=metadata")
    c.io("img.qcow2", "write -P 0x21 1032k 4k", "write -P 0x22 5M 64k",
         "write -z 7M 64k")
    return {"img": "img.qcow2",
            "ranges": [(1 * MB, 128 * KB), (1032 * KB + 1000, 5000)]}


# QEMU's preallocation test counts non-zero refcounts at every width.
for _bits in (1, 4, 8, 32, 64):
    def _mk(bits):
        def fn(c):
            c.create("img.qcow2", 16 * MB, opts="preallocation=metadata,"
                     "cluster_size=4096,refcount_bits=%d" % bits)
            c.io("img.qcow2", "write -P 0x31 8k 12k")
            return {"img": "img.qcow2"}
        return fn
    case("q3-prealloc-meta-rb%d" % _bits)(_mk(_bits))


@case("q2-prealloc-meta-written")
def _(c):
    c.create("img.qcow2", 64 * MB, opts="compat=0.10,preallocation=metadata")
    c.io("img.qcow2", "write -P 0x21 1032k 4k")
    return {"img": "img.qcow2"}


@case("q3-prealloc-falloc")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="preallocation=falloc")
    c.io("img.qcow2", "write -P 0x31 2M 4k")
    return {"img": "img.qcow2"}


@case("q3-prealloc-full")
def _(c):
    c.create("img.qcow2", 16 * MB, opts="preallocation=full")
    c.io("img.qcow2", "write -P 0x41 2M 4k")
    return {"img": "img.qcow2"}


def past_eof(c, cut):
    """Three data clusters; cut(host of last, cluster size) = new size."""
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 0x11 0 64k", "write -P 0x22 1M 64k",
         "write -P 0x33 2M 128k")
    q = Q2(c.read("img.qcow2"))
    last = q.host(2 * MB + 64 * KB)
    if last == 0:
        raise Setup("no data cluster at 2M+64k")
    c.truncate("img.qcow2", cut(q, last))
    return {"img": "img.qcow2"}


@case("q3-past-eof-part")
def _(c):
    # The file ends 20k into the last data cluster.
    return past_eof(c, lambda q, last: last + 20 * KB)


@case("q3-past-eof-full")
def _(c):
    # The file ends where the last data cluster would start.
    return past_eof(c, lambda q, last: last)


@case("q3-past-eof-two")
def _(c):
    # The file ends 512 bytes into the second-to-last data cluster.
    return past_eof(c, lambda q, last: last - q.cs + 512)


@case("q3-datafile")
def _(c):
    c.create("img.qcow2", 8 * MB, opts="data_file=img.data")
    c.io("img.qcow2", "write -P 0x51 0 64k", "write -P 0x52 3M 4k",
         "write -z 4M 64k")
    return {"img": "img.qcow2"}


@case("q3-datafile-raw")
def _(c):
    c.create("img.qcow2", 8 * MB, opts="data_file=img.data,data_file_raw=on")
    c.io("img.qcow2", "write -P 0x51 0 64k", "write -P 0x52 3M 4k")
    return {"img": "img.qcow2"}


@case("q3-dirty-lazy")
def _(c):
    # The dirty bit (incompatible bit 0) as a crash with lazy refcounts
    # leaves it; a read-only open does not repair.
    c.create("img.qcow2", 8 * MB, opts="lazy_refcounts=on")
    c.io("img.qcow2", "write -P 1 0 64k", "write -P 2 1M 4k")
    q = Q2(c.read("img.qcow2"))
    q.put64(72, q.incompat | 1)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2"}


@case("q3-corrupt-bit")
def _(c):
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 1 0 64k", "write -z 1M 64k")
    q = Q2(c.read("img.qcow2"))
    q.put64(72, q.incompat | 2)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2"}


@case("q3-bitmaps")
def _(c):
    c.create("img.qcow2", 8 * MB)
    must(["qemu-img", "bitmap", "--add", "img.qcow2", "b0"], c.d)
    must(["qemu-img", "bitmap", "--add", "-g", "128k", "--disable",
          "img.qcow2", "b1"], c.d)
    c.io("img.qcow2", "write -P 1 0 64k")
    return {"img": "img.qcow2"}


# Backing chains.  Relative backing names are resolved from the directory
# of the image that names them; both tools are given the same relative
# path, so full-backing-filename must agree verbatim.

@case("chain2-qcow2-rel")
def _(c):
    c.create("base.qcow2", 16 * MB)
    c.io("base.qcow2", "write -P 0xb1 0 1M", "write -P 0xb2 4M 64k",
         "write -c -P 0xb3 6M 64k")
    c.create("top.qcow2", 16 * MB, backing="base.qcow2", bfmt="qcow2")
    c.io("top.qcow2", "write -P 0x71 64k 64k", "write -z 256k 64k",
         "write -z -u 512k 64k", "discard 4M 64k", "write -P 0x72 8M 4k")
    return {"img": "top.qcow2",
            "ranges": [(0, 1 * MB), (200 * KB, 400 * KB), (4 * MB, None)]}


@case("chain2-raw-abs")
def _(c):
    c.raw("base.raw", 8 * MB, [(0, b"R" * 4096), (3 * MB, b"S" * 10000),
                               (8 * MB - 512, b"T" * 512)])
    c.create("top.qcow2", 8 * MB, backing=c.path("base.raw"), bfmt="raw")
    c.io("top.qcow2", "write -P 0x71 1M 64k", "write -z 3M 4k")
    return {"img": "top.qcow2"}


@case("chain3-raw-qed-qcow2")
def _(c):
    # The chain lives in sub/ and is opened as sub/top.qcow2: each
    # relative backing name is joined to its own image's directory.
    os.mkdir(c.path("sub"))
    c.raw("sub/base.raw", 4 * MB, [(1 * MB, b"BASE" * 1024)])
    c.create("sub/mid.qed", 8 * MB, fmt="qed", backing="base.raw",
             bfmt="raw")
    c.io("sub/mid.qed", "write -P 0x77 2M 64k", "write -P 0x78 1M 2k",
         fmt="qed")
    c.create("sub/top.qcow2", 16 * MB, backing="mid.qed", bfmt="qed")
    c.io("sub/top.qcow2", "write -P 0x79 3M 4k", "write -z 2M 4k")
    return {"img": "sub/top.qcow2",
            "ranges": [(1 * MB, 64 * KB), (2 * MB, 2 * MB),
                       (4 * MB - 512, 4 * MB), (20 * MB, None)]}


@case("chain3-qcow2-mixed-paths")
def _(c):
    c.create("base.qcow2", 8 * MB, opts="compat=0.10")
    c.io("base.qcow2", "write -P 0xa1 0 2M")
    c.create("mid.qcow2", 8 * MB, backing=c.path("base.qcow2"),
             bfmt="qcow2", opts="cluster_size=4k")
    c.io("mid.qcow2", "write -P 0xa2 1M 8k", "write -z 1536k 4k")
    c.create("top.qcow2", 8 * MB, backing="mid.qcow2", bfmt="qcow2",
             opts="extended_l2=on")
    c.io("top.qcow2", "write -P 0xa3 1M 2k", "write -P 0xa4 6M 64k")
    return {"img": "top.qcow2"}


@case("chain2-short-backing")
def _(c):
    c.create("base.qcow2", 4 * MB)
    c.io("base.qcow2", "write -P 0xc1 0 4M")
    c.create("top.qcow2", 16 * MB, backing="base.qcow2", bfmt="qcow2")
    c.io("top.qcow2", "write -P 0xc2 1M 64k", "write -P 0xc3 10M 64k")
    return {"img": "top.qcow2"}


@case("chain2-short-raw")
def _(c):
    c.raw("base.raw", 3 * MB + 1000, [(3 * MB, b"E" * 1000)])
    c.create("top.qcow2", 8 * MB, backing="base.raw", bfmt="raw")
    c.io("top.qcow2", "write -P 0xc2 64k 64k")
    return {"img": "top.qcow2"}


@case("chain2-extl2-over-backing")
def _(c):
    c.create("base.qcow2", 8 * MB)
    c.io("base.qcow2", "write -P 0xd1 0 1M")
    c.create("top.qcow2", 8 * MB, backing="base.qcow2", bfmt="qcow2",
             opts="extended_l2=on")
    c.io("top.qcow2", "write -P 0xd2 4k 4k", "write -z 64k 8k",
         "write -z -u 128k 4k")
    return {"img": "top.qcow2"}


@case("chain-probed-format")
def _(c):
    # The backing format extension renamed to an unknown type: qemu
    # ignores it and probes the backing file's format.
    c.create("base.qcow2", 8 * MB)
    c.io("base.qcow2", "write -P 0xf1 0 64k")
    c.create("top.qcow2", 8 * MB, backing="base.qcow2", bfmt="qcow2")
    c.io("top.qcow2", "write -P 0xf2 1M 64k")
    q = Q2(c.read("top.qcow2"))
    for off, t, n in q.exts():
        if t == 0xe2792aca:
            q.put32(off, 0x12345678)
            break
    else:
        raise Setup("no backing format extension")
    c.write("top.qcow2", q.buf)
    return {"img": "top.qcow2"}


@case("chain-missing-backing")
def _(c):
    c.create("top.qcow2", 8 * MB, backing="nothere.qcow2", bfmt="qcow2",
             extra=["-u"])
    return {"img": "top.qcow2"}


@case("chain3-missing-base")
def _(c):
    c.create("base.qcow2", 8 * MB)
    c.create("mid.qcow2", 8 * MB, backing="base.qcow2", bfmt="qcow2")
    c.create("top.qcow2", 8 * MB, backing="mid.qcow2", bfmt="qcow2")
    c.io("top.qcow2", "write -P 1 0 64k")
    os.unlink(c.path("base.qcow2"))
    return {"img": "top.qcow2"}


@case("qed-over-qcow2")
def _(c):
    c.create("base.qcow2", 8 * MB)
    c.io("base.qcow2", "write -P 0xe1 0 512k")
    c.create("top.qed", 8 * MB, fmt="qed", backing="base.qcow2",
             bfmt="qcow2")
    c.io("top.qed", "write -P 0xe2 128k 4k", fmt="qed")
    return {"img": "top.qed"}


# QED.

@case("qed-clean")
def _(c):
    c.create("img.qed", 16 * MB, fmt="qed")
    c.io("img.qed", "write -P 1 0 64k", "write -P 2 1M 4k",
         "write -P 3 15M 1M", fmt="qed")
    return {"img": "img.qed"}


@case("qed-zero")
def _(c):
    c.create("img.qed", 16 * MB, fmt="qed")
    c.io("img.qed", "write -P 1 0 256k", "write -z 64k 64k",
         "write -z 1M 64k", "write -z 2M 4k", fmt="qed")
    return {"img": "img.qed"}


@case("qed-backing")
def _(c):
    c.create("base.qed", 8 * MB, fmt="qed")
    c.io("base.qed", "write -P 1 0 1M", fmt="qed")
    c.create("top.qed", 8 * MB, fmt="qed", backing="base.qed", bfmt="qed",
             opts="cluster_size=128k")
    c.io("top.qed", "write -P 2 256k 4k", "write -z 512k 128k", fmt="qed")
    return {"img": "top.qed"}


# Raw files: holes made by truncate, data where written.

@case("raw-sparse")
def _(c):
    return {"img": c.raw("img.raw", 10 * MB)}


@case("raw-data")
def _(c):
    return {"img": c.raw("img.raw", 10 * MB,
                         [(100 * KB, b"a" * 5000), (3 * MB, b"b" * 70000),
                          (10 * MB - 1, b"z")]),
            "ranges": [(0, 200 * KB), (100 * KB + 1, 10),
                       (10 * MB, None), (11 * MB, None)]}


@case("raw-first-block")
def _(c):
    return {"img": c.raw("img.raw", 1 * MB, [(100, b"x")])}


@case("raw-second-block")
def _(c):
    return {"img": c.raw("img.raw", 1 * MB, [(5000, b"x")])}


@case("raw-odd-length")
def _(c):
    return {"img": c.raw("img.raw", 1000001, [(0, b"o" * 700),
                                              (1000000, b"e")])}


@case("raw-empty")
def _(c):
    return {"img": c.raw("img.raw", 0)}


@case("raw-created")
def _(c):
    return {"img": c.create("img.raw", 8 * MB, fmt="raw")}


# Damaged tables: qemu refuses to map (EIO); --force must mark the range.

@case("dmg-l1-unaligned")
def _(c):
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 1 0 64k", "write -P 2 1M 64k")
    q = Q2(c.read("img.qcow2"))
    q.put64(q.l1_off, q.l1(0) + 0x200)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2",
            "damage": (0, min(q.size, q.l2_entries * q.cs))}


@case("dmg-l2-unaligned")
def _(c):
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 1 0 64k", "write -P 2 1M 64k")
    q = Q2(c.read("img.qcow2"))
    e = q.l2_entry_at(1 * MB)
    q.put64(e, q.u64(e) + 0x200)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2", "damage": (1 * MB, q.cs)}


@case("dmg-extl2-alloc-zero")
def _(c):
    c.create("img.qcow2", 8 * MB, opts="extended_l2=on")
    c.io("img.qcow2", "write -P 1 0 4k", "write -P 2 1M 64k")
    q = Q2(c.read("img.qcow2"))
    e = q.l2_entry_at(0)
    # Subcluster 0: allocated (bit 0) and reads as zeros (bit 32).
    struct.pack_into(">Q", q.buf, e + 8, q.u64(e + 8) | 1 | 1 << 32)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2", "damage": (0, q.cs // 32)}


@case("dmg-zero-unaligned")
def _(c):
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 1 64k 64k", "write -z 64k 64k",
         "write -P 2 1M 64k")
    q = Q2(c.read("img.qcow2"))
    e = q.l2_entry_at(64 * KB)
    v = q.u64(e)
    if not v & 1 or not v & OFF_MASK:
        raise Setup("64k is not a zero-alloc cluster: %#x" % v)
    q.put64(e, v + 0x200)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2", "damage": (64 * KB, q.cs)}


# Images qemu refuses to open (for map, some for info too).

@case("ref-ext-overrun")
def _(c):
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 1 0 64k")
    q = Q2(c.read("img.qcow2"))
    exts = q.exts()
    if not exts:
        raise Setup("no header extension")
    off = exts[0][0]
    # One byte more than is left of the header cluster.
    q.put32(off + 4, q.cs - (off + 8) + 1)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2"}


@case("ref-extdata-bit")
def _(c):
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 1 0 64k")
    q = Q2(c.read("img.qcow2"))
    q.put64(72, q.incompat | 4)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2"}


@case("ref-unknown-incompat")
def _(c):
    c.create("img.qcow2", 8 * MB)
    c.io("img.qcow2", "write -P 1 0 64k")
    q = Q2(c.read("img.qcow2"))
    q.put64(72, q.incompat | 1 << 40)
    c.write("img.qcow2", q.buf)
    return {"img": "img.qcow2"}


@case("ref-datafile-missing")
def _(c):
    c.create("img.qcow2", 8 * MB, opts="data_file=img.data")
    c.io("img.qcow2", "write -P 1 0 64k")
    os.unlink(c.path("img.data"))
    return {"img": "img.qcow2"}


@case("ref-luks-nokey")
def _(c):
    # qemu times PBKDF2 rounds with getrusage(); when a timing measures
    # 0 ms it refuses ("Unable to get accurate CPU usage"), at random on a
    # fast CPU and whatever the iter-time.  Try again.
    for attempt in range(8):
        try:
            c.create("img.qcow2", 8 * MB,
                     opts="encrypt.format=luks,encrypt.key-secret=s0,"
                     "encrypt.iter-time=10",
                     extra=["--object", "secret,id=s0,data=mapdiff"])
            break
        except Setup as e:
            if "accurate CPU usage" not in str(e) or attempt == 7:
                raise
    return {"img": "img.qcow2"}


# ----------------------------------------------------------- comparisons

def jload(text):
    try:
        return json.loads(text), None
    except ValueError as e:
        return None, "bad JSON (%s): %.60r" % (e, text)


def short(v):
    s = json.dumps(v, sort_keys=True)
    return s if len(s) <= 160 else s[:157] + "..."


def subset_diff(want, got, path=""):
    """First place where got lacks or differs from a key/value of want."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return "%s: qemu an object, ours %s" % (path or ".", short(got))
        for k, v in want.items():
            p = path + "." + k if path else k
            if k not in got:
                return "%s: missing (qemu %s)" % (p, short(v))
            d = subset_diff(v, got[k], p)
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(got, list):
            return "%s: qemu a list, ours %s" % (path, short(got))
        if len(want) != len(got):
            return "%s: qemu %d items, ours %d" % (path, len(want), len(got))
        for i, (w, g) in enumerate(zip(want, got)):
            d = subset_diff(w, g, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if type(want) is not type(got) or want != got:
        return "%s: qemu %s, ours %s" % (path, short(want), short(got))
    return None


def map_diff(want, got):
    """First differing map entry (ours may carry extra keys)."""
    if not isinstance(got, list):
        return "ours is not a list: %s" % short(got)
    for i in range(max(len(want), len(got))):
        if i >= len(got):
            return "entry %d: qemu %s, ours none (%d entries, qemu %d)" % (
                i, short(want[i]), len(got), len(want))
        if i >= len(want):
            return "entry %d: ours %s, qemu none (%d entries, qemu %d)" % (
                i, short(got[i]), len(got), len(want))
        for k, v in want[i].items():
            if not isinstance(got[i], dict) or k not in got[i] or \
                    got[i][k] != v or type(got[i][k]) is not type(v):
                return "entry %d key %s: qemu %s, ours %s" % (
                    i, k, short(want[i]), short(got[i]))
    return None


def refused(err):
    return "Could not open" in err


class Result:
    def __init__(self, name):
        self.name = name
        self.n = 0
        self.fails = []

    def ok(self, what):
        self.n += 1

    def fail(self, what, why):
        self.n += 1
        self.fails.append("%s: %s: %s" % (self.name, what, why))

    def check(self, what, why):
        if why:
            self.fail(what, why)
        else:
            self.ok(what)


def verbose(r, what, argv, rc, out, err):
    if VERBOSE:
        print("  [%s] %s %s -> %d\n    %s" % (r.name, what, " ".join(argv),
              rc, (err.strip() or out.strip())[:400].replace("\n",
                                                              "\n    ")))


def cmp_json_doc(r, d, what, qargv, oargv, differ, error_key):
    """Compare one qemu-img JSON command with ours; both get the same
    image name.  error_key: on a qemu open refusal ours needs "error"."""
    qrc, qout, qerr = run(qargv, d)
    orc, oout, oerr = run(oargv, d)
    verbose(r, what, qargv, qrc, qout, qerr)
    verbose(r, what, oargv, orc, oout, oerr)
    if qrc != 0:
        if orc != qrc:
            r.fail(what, "qemu exit %d (%s), ours %d" % (
                qrc, qerr.strip().splitlines()[-1:] or "", orc))
            return
        if error_key and refused(qerr):
            doc, bad = jload(oout)
            if bad:
                r.fail(what, "qemu refused the open; ours exits %d, %s" %
                       (orc, bad))
            elif not isinstance(doc, dict) or "error" not in doc:
                r.fail(what, "qemu refused the open; ours exits %d without "
                       "\"error\": %s" % (orc, short(doc)))
            else:
                r.ok(what)
            return
        r.ok(what)
        return
    want, bad = jload(qout)
    if bad:
        r.fail(what, "qemu: " + bad)
        return
    if orc != 0:
        r.fail(what, "qemu exit 0, ours %d: %s" % (
            orc, (oerr.strip() or oout.strip())[:160]))
        return
    got, bad = jload(oout)
    if bad:
        r.fail(what, "ours: " + bad)
        return
    r.check(what, differ(want, got))


def cmp_extract(r, d, img):
    ref = os.path.join(d, "qemu.extract")
    out = os.path.join(d, "ours.extract")
    qargv = ["qemu-img", "convert", "-O", "raw", img, ref]
    oargv = [IMGMAP, "--extract", "-o", out, img]
    qrc, qout, qerr = run(qargv, d)
    orc, oout, oerr = run(oargv, d)
    verbose(r, "extract", qargv, qrc, qout, qerr)
    verbose(r, "extract", oargv, orc, oout, oerr)
    if qrc != 0:
        if orc == 0:
            r.fail("extract", "qemu cannot convert (%s), ours exits 0" %
                   (qerr.strip().splitlines()[-1:] or ""))
        else:
            r.ok("extract")
        return
    if orc != 0:
        r.fail("extract", "qemu converts, ours exits %d: %s" % (
            orc, (oerr.strip() or oout.strip())[:160]))
        return
    if not os.path.exists(out):
        r.fail("extract", "ours exits 0 but wrote no file")
        return
    if not filecmp.cmp(ref, out, shallow=False):
        r.fail("extract", first_byte_diff(ref, out))
    else:
        r.ok("extract")
    for f in (ref, out):
        os.unlink(f)


def first_byte_diff(a, b):
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        off = 0
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                n = min(len(x), len(y))
                i = next((i for i in range(n) if x[i] != y[i]), n)
                break
            if not x:
                i = 0
                break
            off += len(x)
    where = off + i
    return "bytes differ from offset %d (qemu %d bytes, ours %d)" % (
        where, sa, sb)


def cmp_force(r, d, img, dmg):
    argv = [IMGMAP, "--force", "--output=json", img]
    rc, out, err = run(argv, d)
    verbose(r, "force", argv, rc, out, err)
    if rc != 0:
        r.fail("force", "exit %d, want 0: %s" % (
            rc, (err.strip() or out.strip())[:160]))
        return
    doc, bad = jload(out)
    if bad:
        r.fail("force", bad)
        return
    if not isinstance(doc, list):
        r.fail("force", "not a list: %s" % short(doc))
        return
    a, b = dmg[0], dmg[0] + dmg[1]
    for e in doc:
        if not isinstance(e, dict):
            continue
        s, n = e.get("start"), e.get("length")
        if not isinstance(s, int) or not isinstance(n, int):
            continue
        if s < b and a < s + n and e.get("damage"):
            r.ok("force")
            return
    r.fail("force", "no run over guest [%d, %d) carries \"damage\"" % (a, b))


def cmp_force_extract(r, d, img, dmg):
    """--force --extract writes the disk, the damaged range as zeros."""
    out = os.path.join(d, "forced.raw")
    argv = [IMGMAP, "--force", "--extract", "-o", out, img]
    rc, o, err = run(argv, d)
    verbose(r, "force-extract", argv, rc, o, err)
    if rc != 0:
        r.fail("force-extract", "exit %d, want 0: %s" % (
            rc, (err.strip() or o.strip())[:160]))
        return
    if "damage" not in err and "corruption" not in err:
        r.fail("force-extract", "the damage is not reported on stderr")
        return
    rc, qi, _ = run(["qemu-img", "info", "--output=json", img], d)
    size = json.loads(qi)["virtual-size"] if rc == 0 else None
    path = out if os.path.isabs(out) else os.path.join(d, out)
    if size is not None and os.path.getsize(path) != size:
        r.fail("force-extract", "%d bytes, want the disk's %d" % (
            os.path.getsize(path), size))
        return
    with open(path, "rb") as f:
        f.seek(dmg[0])
        if f.read(dmg[1]).count(0) != dmg[1]:
            r.fail("force-extract", "damaged guest range is not zeros")
            return
    r.ok("force-extract")


def run_case(name, fn, root):
    r = Result(name)
    d = os.path.join(root, name)
    os.mkdir(d)
    try:
        spec = fn(Ctx(d))
    except (Setup, OSError, struct.error) as e:
        r.fail("setup", str(e))
        return r
    img = spec["img"]
    cmp_json_doc(r, d, "map",
                 ["qemu-img", "map", "--output=json", img],
                 [IMGMAP, "--output=json", img], map_diff, True)
    cmp_json_doc(r, d, "info",
                 ["qemu-img", "info", "--output=json", img],
                 [IMGINFO, "--output=json", img], subset_diff, True)
    cmp_extract(r, d, img)
    if "damage" in spec:
        cmp_force(r, d, img, spec["damage"])
        cmp_force_extract(r, d, img, spec["damage"])
    for start, length in spec.get("ranges", ()):
        q = ["qemu-img", "map", "--output=json", "--start-offset",
             str(start)]
        o = [IMGMAP, "--output=json", "--start-offset=%d" % start]
        tag = "range %d" % start
        if length is not None:
            q += ["--max-length", str(length)]
            o += ["--max-length=%d" % length]
            tag += "+%d" % length
        cmp_json_doc(r, d, tag, q + [img], o + [img], map_diff, False)
    return r


def main():
    if len(sys.argv) != 2:
        print("usage: mapdiff.py WORKDIR", file=sys.stderr)
        return 2
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    for t in ("qemu-img", "qemu-io"):
        rc, out, err = run([t, "--version"], root)
        if rc != 0:
            print("mapdiff: %s not usable: %s" % (t, err.strip() or rc))
            print("mapdiff: 0/1 comparisons agree (0 images)")
            return 1
    for t in (IMGMAP, IMGINFO):
        if not os.access(t, os.X_OK):
            print("mapdiff: %s not built" % t)
            print("mapdiff: 0/1 comparisons agree (0 images)")
            return 1
    sel = os.environ.get("CASES", "")
    chosen = [(n, f) for n, f in CASES if sel in n]
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(
            max_workers=min(8, (os.cpu_count() or 2) * 2)) as ex:
        results = list(ex.map(lambda nf: run_case(nf[0], nf[1], root), chosen))
    total = sum(r.n for r in results)
    failed = 0
    for r in results:
        for line in r.fails:
            print("FAIL " + line)
        failed += len(r.fails)
    if VERBOSE:
        print("mapdiff: %.1fs" % (time.time() - t0))
    print("mapdiff: %d/%d comparisons agree (%d images)" % (
        total - failed, total, len(results)))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
