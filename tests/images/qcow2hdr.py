# SPDX-License-Identifier: MIT
"""qcow2hdr.py --- the qcow2 header the image test scripts poke by.

qcow2_cases.py, mapdiff.py and qcow2_repair.py each compute where a defect
goes from the header of an image qemu-img made; the fields and the
big-endian access they share live here (python3, stdlib only).
"""
import struct

OFF_MASK = 0x00fffffffffffe00


class Qcow2Header:
    """Header fields of the qcow2 image held in buf.  A read past the end
    raises self.error (each script sets its own Setup)."""

    error = ValueError

    def __init__(self, buf):
        self.buf = buf
        self.version = self.u32(4)
        self.cluster_bits = self.u32(20)
        self.cs = 1 << self.cluster_bits
        self.size = self.u64(24)
        self.l1_size = self.u32(36)
        self.l1_off = self.u64(40)
        self.rt_off = self.u64(48)
        self.rt_clusters = self.u32(56)
        self.nb_snap = self.u32(60)
        self.snap_off = self.u64(64)
        if self.version >= 3:
            self.incompat = self.u64(72)
            self.compat = self.u64(80)
            self.autoclear = self.u64(88)
            self.refcount_order = self.u32(96)
            self.header_length = self.u32(100)
        else:
            self.incompat = self.compat = self.autoclear = 0
            self.refcount_order = 4
            self.header_length = 72
        self.ext_l2 = bool(self.incompat & 16)
        self.l2_esz = 16 if self.ext_l2 else 8
        self.l2_entries = self.cs // self.l2_esz

    def u8(self, off):
        return self.buf[off]

    def u16(self, off):
        return struct.unpack_from(">H", self.buf, off)[0]

    def u32(self, off):
        return struct.unpack_from(">I", self.buf, off)[0]

    def u64(self, off):
        if off + 8 > len(self.buf):
            raise self.error("read past EOF at %#x" % off)
        return struct.unpack_from(">Q", self.buf, off)[0]

    def put32(self, off, v):
        struct.pack_into(">I", self.buf, off, v & 0xffffffff)

    def put64(self, off, v):
        struct.pack_into(">Q", self.buf, off, v & 0xffffffffffffffff)

    # tables
    def l1_at(self, i):
        return self.l1_off + 8 * i

    def l1(self, i):
        return self.u64(self.l1_at(i))

    def l2_off(self, i):
        off = self.l1(i) & OFF_MASK
        if off == 0:
            raise self.error("L1[%d] is empty" % i)
        return off

    def l2_entry_at(self, guest):
        """Host offset of the L2 entry mapping guest offset guest."""
        cl = guest // self.cs
        return self.l2_off(cl // self.l2_entries) + \
            (cl % self.l2_entries) * self.l2_esz
