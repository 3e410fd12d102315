# SPDX-License-Identifier: MIT
# qcow2_cases.py --- builds damaged qcow2 images and compares imgcheck/imginfo/imgmap with qemu-img.
#
# Usage: python3 qcow2_cases.py WORKDIR   (env B = build dir, V=1 verbose,
# CASES=substring to run a subset).  Every image is made by qemu-img create
# and qemu-io, then damaged by exactly one big-endian poke whose offset is
# computed from the header.  Each case declares the problem code(s) that
# imgcheck must report.  Prints one line per disagreement and a summary
# line; exits 1 when any case disagrees.  Python 3 standard library only.

import concurrent.futures
import json
import os
import struct
import subprocess
import sys

from qcow2hdr import OFF_MASK, Qcow2Header

B = os.environ.get("B", "build")
IMGCHECK = os.path.join(B, "bin", "imgcheck")
IMGINFO = os.path.join(B, "bin", "imginfo")
IMGMAP = os.path.join(B, "bin", "imgmap")
VERBOSE = os.environ.get("V", "") not in ("", "0")
TIMEOUT = 60

COPIED = 1 << 63
COMPRESSED = 1 << 62
ZERO = 1
KB = 1024
MB = 1024 * KB

CHECK_KEYS = ("check-errors", "corruptions", "leaks", "total-clusters",
              "allocated-clusters", "fragmented-clusters",
              "compressed-clusters", "image-end-offset")
ZERO_DEFAULT = ("check-errors", "corruptions", "leaks")
MAP_KEYS = ("start", "length", "depth", "present", "zero", "data", "offset")


class Setup(Exception):
    """The image could not be built or poked as the case expects."""


class Img(Qcow2Header):
    """Just enough qcow2 to find what a case pokes (all big endian)."""

    error = Setup

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            super().__init__(f.read())

    @property
    def eof(self):
        return len(self.buf)

    # tables
    def l2tab(self, i=0):
        off = self.l1(i) & OFF_MASK
        if not off:
            raise Setup("L1 entry %d is empty" % i)
        return off

    def l2_at(self, i, j):
        return self.l2tab(i) + self.l2_esz * j

    def l2(self, i, j):
        return self.u64(self.l2_at(i, j))

    def l2_bitmap_at(self, i, j):
        if not self.ext_l2:
            raise Setup("no extended L2 entries")
        return self.l2_at(i, j) + 8

    def data(self, i, j):
        e = self.l2(i, j)
        if e & COMPRESSED or not e & OFF_MASK:
            raise Setup("L2 entry %d/%d is not a normal cluster" % (i, j))
        return e & OFF_MASK

    def coffset_bits(self):
        return 62 - (self.cluster_bits - 8)

    # refcounts
    def refcount_loc(self, cluster):
        bits = 1 << self.refcount_order
        per_block = self.cs * 8 // bits
        rb = self.u64(self.rt_off + 8 * (cluster // per_block)) & ~0x1ff
        if not rb:
            raise Setup("no refcount block for cluster %d" % cluster)
        idx = cluster % per_block
        return rb + idx * bits // 8, bits, (idx * bits) % 8

    def refcount(self, cluster):
        off, bits, shift = self.refcount_loc(cluster)
        if bits < 8:
            return (self.buf[off] >> shift) & ((1 << bits) - 1)
        return int.from_bytes(self.buf[off:off + bits // 8], "big")

    def set_refcount(self, cluster, value):
        """The poke that stores VALUE as the refcount of CLUSTER."""
        off, bits, shift = self.refcount_loc(cluster)
        if bits < 8:
            mask = ((1 << bits) - 1) << shift
            byte = (self.buf[off] & ~mask) | ((value << shift) & mask)
            return poke(self.path, off, struct.pack(">B", byte))
        return poke(self.path, off, value.to_bytes(bits // 8, "big"))

    def cluster_of(self, off):
        return off >> self.cluster_bits

    # header extensions: list of (type, offset of the 8-byte ext header, len)
    def extensions(self):
        out = []
        off = self.header_length
        end = self.cs
        while off + 8 <= end:
            typ, ln = struct.unpack_from(">II", self.buf, off)
            if typ == 0:
                break
            out.append((typ, off, ln))
            off += 8 + ((ln + 7) & ~7)
        return out

    def ext(self, typ):
        for t, off, ln in self.extensions():
            if t == typ:
                return off, ln
        raise Setup("no header extension %#x" % typ)

    # snapshots: offsets of the fields of entry N
    def snap(self, n=0):
        off = self.snap_off
        for k in range(self.nb_snap):
            l1o, l1n, idlen, namelen = struct.unpack_from(">QIHH", self.buf,
                                                          off)
            extra = self.u32(off + 36)
            ent = dict(at=off, l1_off_at=off, l1_size_at=off + 8,
                       extra_at=off + 36, l1_off=l1o, l1_size=l1n,
                       extra=extra)
            if k == n:
                return ent
            ln = 40 + extra + idlen + namelen
            off += (ln + 7) & ~7
        raise Setup("no snapshot %d" % n)

    # bitmaps: offsets in the first bitmap directory entry
    def bitmap_dir(self):
        eoff, ln = self.ext(0x23852875)
        nb, _res, dsize, doff = struct.unpack_from(">IIQQ", self.buf,
                                                   eoff + 8)
        tab, tsize, flags, typ, gran, nsize, extra = struct.unpack_from(
            ">QIIBBHI", self.buf, doff)
        return dict(dir_off=doff, table=tab, table_size=tsize,
                    flags_at=doff + 12, gran_at=doff + 17)


def poke(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def poke64(path, off, val):
    poke(path, off, struct.pack(">Q", val & 0xffffffffffffffff))


def poke32(path, off, val):
    poke(path, off, struct.pack(">I", val & 0xffffffff))


def truncate(path, n):
    with open(path, "r+b") as f:
        f.truncate(n)


# --- the cases -------------------------------------------------------------

CASES = []
W64 = ("write -P 0x11 0 64k",)


def case(name, codes=(), kind="corrupt", opts="", size="64M", io=W64,
         snapshot=False, io_after=(), bitmap=False, data_file=False,
         fmt=False, tolerate_io=False):
    """Register a case; decorates the poke function p(img) -> None."""
    def deco(fn):
        CASES.append(dict(name=name, codes=tuple(codes), kind=kind,
                          opts=opts, size=size, io=tuple(io),
                          snapshot=snapshot, io_after=tuple(io_after),
                          bitmap=bitmap, data_file=data_file, fmt=fmt,
                          tolerate_io=tolerate_io, poke=fn))
        return fn
    return deco


def clean(name, **kw):
    case(name, kind="clean", **kw)(None)


def p64(where, value):
    def fn(q):
        poke64(q.path, where(q), value(q))
    return fn


def p32(where, value):
    def fn(q):
        poke32(q.path, where(q), value(q))
    return fn


def setrc(cluster, value):
    def fn(q):
        c = cluster(q)
        q.set_refcount(c, value if not callable(value) else value(q))
    return fn


def reg(name, codes, fn, **kw):
    case(name, codes, **kw)(fn)


# Clean images: counters, map and info must all agree.
clean("clean_v3_64k", io=("write -P 0x11 0 64k", "write -P 0x22 1M 128k",
                          "write -z 4M 64k"))
clean("clean_v2_4k", opts="compat=0.10,cluster_size=4096",
      io=("write -P 0x11 0 64k", "write -P 0x22 8M 4k"))
clean("clean_512_rb1", opts="cluster_size=512,refcount_bits=1", size="4M",
      io=("write -P 0x11 0 4k", "write -P 0x22 1M 1k"))
clean("clean_2M_rb64", opts="cluster_size=2M,refcount_bits=64",
      io=("write -P 0x11 0 64k", "write -P 0x22 10M 2M"))
clean("clean_extl2", opts="extended_l2=on",
      io=("write -P 0x11 0 4k", "write -P 0x22 128k 64k",
          "write -z 256k 8k"))
clean("clean_zstd_compressed", opts="compression_type=zstd",
      io=("write -c -P 0x33 0 64k", "write -P 0x11 64k 64k"))
clean("clean_snapshot", snapshot=True, io_after=("write -P 0x44 0 4k",))
clean("clean_bitmap", bitmap=True, io_after=("write -P 0x55 1M 64k",))
clean("clean_data_file", data_file=True,
      io=("write -P 0x11 0 64k", "write -P 0x22 2M 64k"))
clean("clean_lazy_rb8", opts="lazy_refcounts=on,refcount_bits=8",
      io=("write -P 0x11 0 128k",))

# Leaks: a discarded cluster keeps the file size; give it refcount 1 again.
LEAK_IO = ("write -P 0x11 0 128k", "discard 64k 64k")


def freed(q):
    c = q.cluster_of(q.data(0, 0)) + 1
    if q.refcount(c) != 0:
        raise Setup("cluster %d was not freed" % c)
    return c


for nm, o, io in (
        ("leak_rb16_64k", "", LEAK_IO),
        ("leak_rb1_512", "cluster_size=512,refcount_bits=1",
         ("write -P 0x11 0 1k", "discard 512 512")),
        ("leak_rb2_4k", "cluster_size=4096,refcount_bits=2",
         ("write -P 0x11 0 8k", "discard 4k 4k")),
        ("leak_rb4_4k", "cluster_size=4096,refcount_bits=4",
         ("write -P 0x11 0 8k", "discard 4k 4k")),
        ("leak_rb8_64k", "refcount_bits=8", LEAK_IO),
        ("leak_rb32_64k", "refcount_bits=32", LEAK_IO),
        ("leak_rb64_2M", "cluster_size=2M,refcount_bits=64",
         ("write -P 0x11 0 4M", "discard 2M 2M"))):
    reg(nm, ["qcow2-refcount-leak"], setrc(freed, 1), opts=o, io=io)

# Refcounts too high, too low, zero.
reg("refcount_high_data", ["qcow2-refcount-leak", "qcow2-copied-data"],
    setrc(lambda q: q.cluster_of(q.data(0, 0)), 2))
reg("refcount_high_v2", ["qcow2-refcount-leak", "qcow2-copied-data"],
    setrc(lambda q: q.cluster_of(q.data(0, 0)), 3), opts="compat=0.10")
reg("refcount_zero_data", ["qcow2-refcount-zero"],
    setrc(lambda q: q.cluster_of(q.data(0, 0)), 0))
reg("refcount_zero_l2", ["qcow2-refcount-zero"],
    setrc(lambda q: q.cluster_of(q.l2tab(0)), 0))
reg("refcount_zero_l1", ["qcow2-refcount-zero"],
    setrc(lambda q: q.cluster_of(q.l1_off), 0))
reg("refcount_zero_header", ["qcow2-refcount-zero"],
    setrc(lambda q: 0, 0))
reg("refcount_zero_reftable", ["qcow2-refcount-zero"],
    setrc(lambda q: q.cluster_of(q.rt_off), 0))
reg("refcount_zero_refblock_rb4", ["qcow2-refcount-zero"],
    setrc(lambda q: q.cluster_of(q.u64(q.rt_off)), 0),
    opts="refcount_bits=4")
reg("refcount_short_snapshot", ["qcow2-refcount-short"],
    setrc(lambda q: q.cluster_of(q.data(0, 0)), 1), snapshot=True)
reg("refcount_short_rb2_snapshot", ["qcow2-refcount-short"],
    setrc(lambda q: q.cluster_of(q.data(0, 0)), 1), snapshot=True,
    opts="refcount_bits=2")


# Refcount overflow at narrow widths: N extra L2 entries share cluster 0's.
def share(n):
    def fn(q):
        e = q.l2(0, 0)
        poke(q.path, q.l2_at(0, 1), struct.pack(">%dQ" % n, *([e] * n)))
    return fn


reg("overflow_rb1", ["qcow2-ref-overflow"], share(1),
    opts="refcount_bits=1")
reg("overflow_rb2", ["qcow2-ref-overflow"], share(3),
    opts="refcount_bits=2,cluster_size=4096")
reg("overflow_rb4", ["qcow2-ref-overflow"], share(15),
    opts="refcount_bits=4,cluster_size=512", size="4M",
    io=("write -P 0x11 0 512",))

# Reserved bits, alignment.
reg("l1_reserved_low", ["qcow2-l1-reserved"],
    p64(lambda q: q.l1_at(0), lambda q: q.l1(0) | 0x2))
reg("l1_reserved_high_v2", ["qcow2-l1-reserved"],
    p64(lambda q: q.l1_at(0), lambda q: q.l1(0) | (1 << 57)),
    opts="compat=0.10")
reg("l2_reserved_low", ["qcow2-l2-reserved"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) | 0x100))
reg("l2_reserved_high_v2_4k", ["qcow2-l2-reserved"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) | (1 << 56)),
    opts="compat=0.10,cluster_size=4096")
reg("l2_reserved_512", ["qcow2-l2-reserved"],
    p64(lambda q: q.l2_at(0, 1), lambda q: q.l2(0, 1) | 0x8),
    opts="cluster_size=512", size="4M")
reg("l2_table_misaligned", ["qcow2-l2-misaligned"],
    p64(lambda q: q.l1_at(0), lambda q: q.l1(0) + 512))
reg("data_misaligned", ["qcow2-data-misaligned"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) + 512))
reg("data_misaligned_2M", ["qcow2-data-misaligned"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) + 64 * KB),
    opts="cluster_size=2M")
reg("zero_alloc_misaligned", ["qcow2-zero-misaligned"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) + 512),
    io=("write -P 0x11 0 64k", "write -z 0 64k"))

# References past the end of the file.
reg("l2_table_past_eof", ["qcow2-ref-past-eof"],
    p64(lambda q: q.l1_at(0),
        lambda q: COPIED | (((q.eof >> q.cluster_bits) + 16) <<
                            q.cluster_bits)))
reg("data_past_eof", ["qcow2-ref-past-eof"],
    p64(lambda q: q.l2_at(0, 0),
        lambda q: COPIED | (((q.eof >> q.cluster_bits) + 4) <<
                            q.cluster_bits)))
reg("data_past_eof_4k_v2", ["qcow2-ref-past-eof"],
    p64(lambda q: q.l2_at(0, 2), lambda q: COPIED | (q.eof + 8 * q.cs)),
    opts="compat=0.10,cluster_size=4096")

# COPIED flags, both ways, in L1 and L2.
reg("copied_l1_cleared", ["qcow2-copied-l2"],
    p64(lambda q: q.l1_at(0), lambda q: q.l1(0) & ~COPIED))
reg("copied_l1_set_shared", ["qcow2-copied-l2"],
    p64(lambda q: q.l1_at(0), lambda q: q.l1(0) | COPIED), snapshot=True)
reg("copied_l2_cleared", ["qcow2-copied-data"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) & ~COPIED))
reg("copied_l2_set_shared", ["qcow2-copied-data"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) | COPIED),
    snapshot=True)
reg("compressed_copied", ["qcow2-compressed-copied"],
    p64(lambda q: q.l2_at(0, 0), lambda q: q.l2(0, 0) | COPIED),
    io=("write -c -P 0x11 0 64k",))
reg("compressed_copied_zstd_4k", ["qcow2-compressed-copied"],
    p64(lambda q: q.l2_at(0, 1), lambda q: q.l2(0, 1) | COPIED),
    opts="compression_type=zstd,cluster_size=4096",
    io=("write -c -P 0x11 0 8k",))

# Two references to one cluster; data pointing into metadata.
reg("two_l2_entries_share", ["qcow2-refcount-short"], share(1))
# Several L1 entries naming one L2 table: QEMU walks it once per entry
# and counts everything that often; so must we (we walk it once).
def share_l2(n):
    def fn(q):
        poke(q.path, q.l1_at(1), struct.pack(">%dQ" % n, *([q.l1(0)] * n)))
    return fn


reg("l1_entries_share_l2", ["qcow2-refcount-short"], share_l2(7),
    size="4G", io=("write -P 0x11 0 128k", "write -c -P 0x22 1M 64k"))
reg("l1_entries_share_l2_rb1", ["qcow2-ref-overflow"], share_l2(7),
    size="4G", opts="refcount_bits=1",
    io=("write -P 0x11 0 128k", "write -c -P 0x22 1M 64k"))
reg("data_into_l1", ["qcow2-refcount-short"],
    p64(lambda q: q.l2_at(0, 0), lambda q: COPIED | q.l1_off))
reg("data_into_refblock", ["qcow2-refblock-refcount"],
    p64(lambda q: q.l2_at(0, 0),
        lambda q: COPIED | (q.u64(q.rt_off) & OFF_MASK)))
reg("data_into_reftable", ["qcow2-refcount-short"],
    p64(lambda q: q.l2_at(0, 0), lambda q: COPIED | q.rt_off))
reg("l2_into_l1", ["qcow2-refcount-short"],
    p64(lambda q: q.l1_at(0), lambda q: COPIED | q.l1_off))
reg("compressed_into_header", ["qcow2-refcount-short"],
    p64(lambda q: q.l2_at(0, 0),
        lambda q: (q.l2(0, 0) & ~((1 << q.coffset_bits()) - 1)) | 0x100),
    io=("write -c -P 0x11 0 64k",))
reg("l1_empty_offset", ["qcow2-l1-empty-offset"],
    p64(lambda q: q.l1_at(0), lambda q: COPIED))

# Refcount table entries.
reg("reftable_reserved", ["qcow2-reftable-reserved"],
    p64(lambda q: q.rt_off, lambda q: q.u64(q.rt_off) | 1))
reg("reftable_misaligned", ["qcow2-refblock-misaligned"],
    p64(lambda q: q.rt_off, lambda q: q.u64(q.rt_off) + 512))
reg("reftable_past_eof", ["qcow2-refblock-outside"],
    p64(lambda q: q.rt_off + 8,
        lambda q: ((q.eof >> q.cluster_bits) + 8) << q.cluster_bits))
reg("reftable_clusters_0", ["qcow2-refcount-zero"],
    p32(lambda q: 56, lambda q: 0))

# Snapshot table.
reg("snap_extra_too_large", ["qcow2-snap-extra-too-large"],
    p32(lambda q: q.snap(0)["extra_at"], lambda q: 1025), snapshot=True,
    kind="refuse")
reg("snap_incomplete", ["qcow2-snap-incomplete"],
    p32(lambda q: q.snap(0)["extra_at"], lambda q: 8), snapshot=True)
reg("snap_l1_misaligned", ["qcow2-snap-l1-misaligned"],
    p64(lambda q: q.snap(0)["l1_off_at"], lambda q: q.snap(0)["l1_off"] + 512),
    snapshot=True)
reg("snap_l1_too_large", ["qcow2-snap-l1-too-large"],
    p32(lambda q: q.snap(0)["l1_size_at"], lambda q: 4194305),
    snapshot=True)
reg("snap_count_too_large", ["qcow2-snaptab-too-large"],
    p32(lambda q: 60, lambda q: 65537), snapshot=True, kind="refuse")
reg("snap_offset_misaligned", ["qcow2-snaptab-offset"],
    p64(lambda q: 64, lambda q: q.snap_off + 8), snapshot=True,
    kind="refuse")
reg("snap_count_plus_one", ["qcow2-snap-incomplete"],
    p32(lambda q: 60, lambda q: q.nb_snap + 1), snapshot=True)

# Extended L2 bitmaps.
reg("extl2_alloc_and_zero", ["qcow2-subcluster-bitmap"],
    p64(lambda q: q.l2_bitmap_at(0, 0),
        lambda q: q.u64(q.l2_bitmap_at(0, 0)) | (1 << 32)),
    opts="extended_l2=on", io=("write -P 0x11 0 4k",))
reg("extl2_unalloc_bits", ["qcow2-unalloc-subcluster"],
    p64(lambda q: q.l2_bitmap_at(0, 3), lambda q: 0x3),
    opts="extended_l2=on", io=("write -P 0x11 0 4k",))
reg("extl2_compressed_bitmap", ["qcow2-compressed-subcluster"],
    p64(lambda q: q.l2_bitmap_at(0, 0), lambda q: 1),
    opts="extended_l2=on", io=("write -c -P 0x11 0 64k",))

# Bitmaps.
reg("bitmap_autoclear_cleared", ["qcow2-bitmaps-ignored"],
    p64(lambda q: 88, lambda q: q.autoclear & ~1), bitmap=True)
reg("bitmap_table_entry_reserved", ["qcow2-bitmap-table-entry"],
    p64(lambda q: q.bitmap_dir()["table"], lambda q: 0x2), bitmap=True,
    kind="refuse")
reg("bitmap_dir_granularity", ["qcow2-bitmap-dir"],
    lambda q: poke(q.path, q.bitmap_dir()["gran_at"], b"\x40"),
    bitmap=True, kind="refuse")

# Header flags.
reg("dirty_bit", ["qcow2-dirty"],
    p64(lambda q: 72, lambda q: q.incompat | 1), opts="lazy_refcounts=on")
reg("corrupt_bit", ["qcow2-corrupt-bit"],
    p64(lambda q: 72, lambda q: q.incompat | 2))
reg("autoclear_unknown", ["qcow2-autoclear-unknown"],
    p64(lambda q: 88, lambda q: q.autoclear | (1 << 40)))
reg("compat_unknown", ["qcow2-compat-unknown"],
    p64(lambda q: 80, lambda q: q.compat | (1 << 20)))
reg("header_padding", ["qcow2-hdr-padding"],
    lambda q: poke(q.path, 107, b"\x5a"))
reg("compressed_with_data_file", ["qcow2-compressed-data-file"],
    p64(lambda q: q.l2_at(0, 0), lambda q: COMPRESSED | (1 << 54) | 0x10000),
    data_file=True)
reg("lazy_refcounts_crash", ["qcow2-dirty", "qcow2-refcount-zero"],
    lambda q: None, opts="lazy_refcounts=on",
    io=("write -P 0x11 0 64k", "write -P 0x22 1M 64k", "sigraise 9"),
    tolerate_io=True)

# Only the header left: qemu opens it and finds every table past EOF.
reg("truncated_header_only", ["qcow2-ref-past-eof"],
    lambda q: truncate(q.path, q.header_length), fmt=True)


# Refused at open time: exit 1 from both, a message from imgcheck.  The
# snapshot-table and bitmap cases above are refused too (qemu's check fails
# hard); their codes are checked whenever imgcheck still prints JSON.
def refuse(name, fn, fmt=False, **kw):
    reg(name, (), fn, kind="refuse", fmt=fmt, **kw)


refuse("bad_magic", p32(lambda q: 0, lambda q: 0x514649fa), fmt=True)
refuse("version_4", p32(lambda q: 4, lambda q: 4))
refuse("cluster_bits_22", p32(lambda q: 20, lambda q: 22))
refuse("cluster_bits_8", p32(lambda q: 20, lambda q: 8))
refuse("l1_size_too_small", p32(lambda q: 36, lambda q: 0), size="2G")
refuse("l1_size_max", p32(lambda q: 36, lambda q: 0xffffffff))
refuse("l1_offset_unaligned", p64(lambda q: 40, lambda q: q.l1_off + 8))
refuse("reftable_offset_unaligned",
       p64(lambda q: 48, lambda q: q.rt_off + 512))
refuse("incompat_unknown_bit", p64(lambda q: 72,
                                   lambda q: q.incompat | (1 << 10)))
refuse("refcount_order_7", p32(lambda q: 96, lambda q: 7))
refuse("header_length_short", p32(lambda q: 100, lambda q: 96))
refuse("compression_type_mismatch",
       lambda q: poke(q.path, 104, b"\x01"))
refuse("compression_bit_without_type",
       p64(lambda q: 72, lambda q: q.incompat | 8))
refuse("backing_offset_past_cluster",
       p64(lambda q: 8, lambda q: q.cs + 8), opts="cluster_size=4096")
refuse("ext_length_ffffffff",
       p32(lambda q: q.extensions()[0][1] + 4, lambda q: 0xffffffff))
refuse("reftable_clusters_huge", p32(lambda q: 56, lambda q: 0xffffff))
refuse("truncated_50_bytes", lambda q: truncate(q.path, 50), fmt=True)
refuse("truncated_0_bytes", lambda q: truncate(q.path, 0), fmt=True)


# --- running -----------------------------------------------------------------

def run(argv, env=None):
    """Run ARGV with the time limit; returns (rc, stdout, stderr)."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    except OSError as e:
        return "not run (%s)" % e.strerror, "", ""
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def must(argv, tolerate=False):
    rc, out, err = run(argv)
    if rc != 0 and not tolerate:
        raise Setup("%s: exit %s: %s" % (" ".join(argv[:2]), rc,
                                         err.strip()[:200]))


def build(c, work):
    path = os.path.join(work, c["name"] + ".qcow2")
    opts = c["opts"]
    if c["data_file"]:
        df = "data_file=" + os.path.join(work, c["name"] + ".data")
        opts = opts + "," + df if opts else df
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if opts:
        argv += ["-o", opts]
    must(argv + [path, c["size"]])
    if c["io"]:
        argv = ["qemu-io", "-f", "qcow2"]
        for cmd in c["io"]:
            argv += ["-c", cmd]
        must(argv + [path], tolerate=c["tolerate_io"])
    if c["snapshot"]:
        must(["qemu-img", "snapshot", "-c", "snap1", path])
    if c["bitmap"]:
        must(["qemu-img", "bitmap", "--add", path, "bm0"])
    if c["io_after"]:
        argv = ["qemu-io", "-f", "qcow2"]
        for cmd in c["io_after"]:
            argv += ["-c", cmd]
        must(argv + [path])
    if c["poke"] is not None:
        c["poke"](Img(path))
    return path


def load_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def rc_ok(rc):
    return rc in (0, 1, 2, 3)


def compare_check(c, path):
    bad = []
    fmt = ["-f", "qcow2"] if c["fmt"] else []
    qrc, qout, qerr = run(["qemu-img", "check", "--output=json"] + fmt +
                          [path])
    orc, oout, oerr = run([IMGCHECK, "--output=json"] + fmt + [path])
    if not rc_ok(orc):
        bad.append("imgcheck exit %s (want 0..3)" % orc)
    if not rc_ok(qrc):
        bad.append("qemu-img exit %s" % qrc)
    if qrc != orc:
        bad.append("exit %s, qemu %s" % (orc, qrc))
    q = load_json(qout)
    o = load_json(oout)
    if orc == 1 and isinstance(o, dict) and "findings" not in o:
        o = None    # a refusal: {"filename": ..., "error": ...} only
    if q is not None:
        if not isinstance(o, dict):
            bad.append("imgcheck printed no JSON object")
            o = {}
        for k in CHECK_KEYS:
            if k in ZERO_DEFAULT:
                qv, ov = q.get(k, 0), o.get(k, 0)
            elif k in q:
                qv, ov = q[k], o.get(k)
            else:
                continue
            if qv != ov:
                bad.append("%s %s, qemu %s" % (k, ov, qv))
    if isinstance(o, dict) or q is not None:
        findings = o.get("findings") if isinstance(o, dict) else None
        if not isinstance(findings, list):
            bad.append("no findings list")
            findings = []
        got = sorted({f.get("code") for f in findings
                      if isinstance(f, dict)} - {None})
        for code in c["codes"]:
            if code not in got:
                bad.append("missing finding %s (got %s)" %
                           (code, ",".join(got) or "none"))
    if c["kind"] == "refuse":
        if qrc != 1:
            bad.append("expected qemu-img to refuse (exit 1), got %s" % qrc)
        if orc == 1 and not oerr.strip():
            bad.append("imgcheck refused without a message on stderr")
    elif q is None:
        bad.append("qemu-img printed no JSON (exit %s)" % qrc)
    if c["kind"] == "clean" and (q is None or qrc != 0):
        bad.append("clean image is not clean for qemu-img (exit %s)" % qrc)
    return bad, (qrc, q, qerr, orc, o, oerr)


def subset(q, o, where, bad):
    """Every key of Q must be in O with an equal value (recursively)."""
    if isinstance(q, dict):
        if not isinstance(o, dict):
            bad.append("%s: %r, qemu %r" % (where, o, q))
            return
        for k, v in q.items():
            if k not in o:
                bad.append("%s.%s missing (qemu %r)" % (where, k, v))
            else:
                subset(v, o[k], where + "." + k, bad)
    elif isinstance(q, list):
        if not isinstance(o, list) or len(o) != len(q):
            bad.append("%s: %r, qemu %r" % (where, o, q))
            return
        for i, (qv, ov) in enumerate(zip(q, o)):
            subset(qv, ov, "%s[%d]" % (where, i), bad)
    elif q != o or type(q) is not type(o):
        bad.append("%s: %r, qemu %r" % (where, o, q))


def compare_info(path):
    bad = []
    qrc, qout, qerr = run(["qemu-img", "info", "--output=json", path])
    orc, oout, oerr = run([IMGINFO, "--output=json", path])
    q, o = load_json(qout), load_json(oout)
    if qrc != 0 or not isinstance(q, dict):
        return ["qemu-img info failed: %s" % qerr.strip()[:200]]
    if not rc_ok(orc) or orc != 0 or not isinstance(o, dict):
        return ["imginfo exit %s, no JSON: %s" % (orc, oerr.strip()[:200])]
    for k in ("filename", "actual-size"):
        q.pop(k, None)
    subset(q, o, "info", bad)
    return bad


def compare_map(path):
    bad = []
    qrc, qout, qerr = run(["qemu-img", "map", "--output=json", path])
    orc, oout, oerr = run([IMGMAP, "--output=json", path])
    q, o = load_json(qout), load_json(oout)
    if qrc != 0 or not isinstance(q, list):
        return ["qemu-img map failed: %s" % qerr.strip()[:200]]
    if orc != 0 or not isinstance(o, list):
        return ["imgmap exit %s, no JSON list: %s" %
                (orc, oerr.strip()[:200])]
    ours = {e.get("start"): e for e in o if isinstance(e, dict)}
    for e in q:
        m = ours.get(e.get("start"))
        if m is None:
            bad.append("map: no entry at start %s" % e.get("start"))
            continue
        for k in MAP_KEYS:
            if e.get(k) != m.get(k):
                bad.append("map@%s: %s %r, qemu %r" %
                           (e.get("start"), k, m.get(k), e.get(k)))
    return bad


def one(c, work):
    try:
        path = build(c, work)
    except (Setup, OSError, struct.error) as e:
        return c, ["cannot build the case: %s" % e], None
    bad, detail = compare_check(c, path)
    if c["kind"] == "clean":
        bad += compare_info(path)
        bad += compare_map(path)
    return c, bad, detail


def counters(d):
    if not isinstance(d, dict):
        return "-"
    return " ".join("%s=%s" % (k, d[k]) for k in CHECK_KEYS if k in d)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: qcow2_cases.py WORKDIR")
    work = sys.argv[1]
    for t in (IMGCHECK, IMGINFO, IMGMAP):
        if not os.access(t, os.X_OK):
            print("qcow2 differential: %s is not built" % t)
            return 1
    names = [c["name"] for c in CASES]
    if len(names) != len(set(names)):
        sys.exit("duplicate case names")
    sel = os.environ.get("CASES", "")
    cases = [c for c in CASES if sel in c["name"]]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(lambda c: one(c, work), cases))
    agree = 0
    for c, bad, detail in results:
        if not bad:
            agree += 1
            if VERBOSE:
                print("ok   %s" % c["name"])
            continue
        print("FAIL %s: %s" % (c["name"], "; ".join(bad)))
        if VERBOSE and detail:
            qrc, q, qerr, orc, o, oerr = detail
            print("     qemu  exit %s: %s" % (qrc, counters(q)))
            print("     ours  exit %s: %s" % (orc, counters(o)))
            for ln in qerr.strip().splitlines()[:8]:
                print("     qemu stderr: %s" % ln)
            for ln in oerr.strip().splitlines()[:4]:
                print("     our stderr: %s" % ln)
    print("qcow2 differential: %d/%d cases agree" % (agree, len(results)))
    return 0 if agree == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
