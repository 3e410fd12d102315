#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# table.py --- the speed and memory table of issue 12, side by side with
# the tools users compare us with, on the images users have.
#
# Images are built once into build/bench (sparse) with qemu-img and
# qemu-io exactly as the table says; our own writers only where qemu
# cannot make the shape (sparse streams, archives).  Every row runs both
# commands alternately, N times (BENCH_RUNS, default 5), warm (page cache
# filled first) and, as root, cold (caches dropped before each run);
# prints medians, min-max, system time and peak RSS (getrusage), the
# ratio against its target, and writes everything to build/bench.json with
# a description of the machine.  Not part of make check.
#
# BENCH_ROWS=check1t,map1t runs a subset; BENCH_COLD=0 skips cold runs;
# BENCH_CPUS=0 runs both sides on those CPUs only (taskset -c), as on a
# one-vCPU VM, into build/bench-cpus-0.json.
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import time

B = os.environ.get("B", "build")
BIN = os.path.join(B, "bin")
D = os.path.join("build", "bench")
N = int(os.environ.get("BENCH_RUNS", "5"))
KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
ROOT = os.geteuid() == 0
COLD = os.environ.get("BENCH_COLD", "1") != "0"


def sh(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def machine():
    def first(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return None
    def detect(flag):
        # systemd-detect-virt alone names the innermost layer: a
        # container inside a VM reads as "docker", hiding the VM.
        if not shutil.which("systemd-detect-virt"):
            return None
        p = subprocess.run(["systemd-detect-virt", flag],
                           capture_output=True, text=True)
        v = p.stdout.strip()
        return v if v and v != "none" else None
    virt = detect("--vm")
    if virt is None and first("/proc/cpuinfo", "flags") and \
            " hypervisor" in first("/proc/cpuinfo", "flags"):
        virt = "unknown hypervisor"
    mem = first("/proc/meminfo", "MemTotal")
    fs = subprocess.run(["df", "-T", D], capture_output=True, text=True)
    return {
        "kernel": platform.release(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "memory": mem,
        "virtualization": virt or "none (bare metal)",
        "container": detect("--container"),
        "filesystem": fs.stdout.splitlines()[-1].split()[1]
        if fs.returncode == 0 else None,
        "qemu-img": subprocess.run(["qemu-img", "--version"],
                                   capture_output=True, text=True)
        .stdout.splitlines()[0] if shutil.which("qemu-img") else None,
    }


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def warm(paths):
    """Read the data extents into the page cache (holes cost nothing)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            size, off = os.fstat(fd).st_size, 0
            while off < size:
                try:
                    d = os.lseek(fd, off, os.SEEK_DATA)
                except OSError:
                    break
                h = os.lseek(fd, d, os.SEEK_HOLE)
                while d < h:
                    n = len(os.pread(fd, min(1 << 24, h - d), d))
                    if n == 0:
                        break
                    d += n
                off = h
        finally:
            os.close(fd)


TIMEF = os.path.join(D, ".time")
RUNONE = os.path.join(B, "bench", "runone")
SHORT, SHORT_RUNS = 0.1, 31


CPUS = os.environ.get("BENCH_CPUS")


def run_once(argv, prep=None):
    """Wall, system and user time and peak RSS of one run, from runone
    (bench/runone.c): it times from just before its spawn to just after
    wait4, so no harness time is counted, and its child starts from a
    small process, so ru_maxrss is the command's own."""
    if prep:
        prep()
    pin = ["taskset", "-c", CPUS] if CPUS else []
    subprocess.run(pin + [RUNONE, TIMEF] + argv, check=True)
    with open(TIMEF) as f:
        w = f.read().split()
    return {"wall": float(w[0]), "sys": float(w[1]), "user": float(w[2]),
            "rss_kib": int(w[3]), "exit": int(w[4])}


def summary(runs):
    w = [r["wall"] for r in runs]
    return {"median": statistics.median(w), "min": min(w), "max": max(w),
            "sys_median": statistics.median(r["sys"] for r in runs),
            "rss_kib": max(r["rss_kib"] for r in runs),
            "exits": sorted({r["exit"] for r in runs}), "runs": len(runs)}


def measure(ours, theirs, files, cold, prep_each=None):
    """Alternate ours and theirs N times; return both summaries.  Warm
    rows whose files are too big to read whole (their data is the image's
    payload) are primed by one untimed run of each command instead.
    Rows whose runs all stay under SHORT seconds run SHORT_RUNS times:
    a few milliseconds' median moves with every timer tick."""
    a, b = [], []
    if not cold and not files:
        for argv in (ours, theirs):
            if prep_each:
                prep_each()
            run_once(argv)
    runs = N
    i = 0
    while i < runs:
        i += 1
        for argv, acc in ((ours, a), (theirs, b)):
            if prep_each:
                prep_each()
            if cold:
                r = run_once(argv, drop_caches)
            else:
                warm(files)
                r = run_once(argv)
            acc.append(r)
        if i == N and max(r["wall"] for r in a + b) < SHORT:
            runs = max(N, SHORT_RUNS)
    return summary(a), summary(b)


# ---- images --------------------------------------------------------------

def qcow2(name, size, opts):
    p = os.path.join(D, name)
    if not os.path.exists(p):
        print("bench: building %s (%s, %s; once)" % (p, size, opts),
              flush=True)
        sh(["qemu-img", "create", "-q", "-f", "qcow2", "-o", opts,
            p + ".tmp", size])
        os.rename(p + ".tmp", p)
    return p


def qed64():
    p = os.path.join(D, "qed64g-16g.qed")
    if not os.path.exists(p):
        print("bench: building %s (64 GiB, 16 GiB written; once)" % p,
              flush=True)
        sh(["qemu-img", "create", "-q", "-f", "qed", p + ".tmp", "64G"])
        cmds = []
        for i in range(16):
            cmds += ["-c", "write -P %d %dG 1G" % (i + 1, 4 * i)]
        sh(["qemu-io", "-f", "qed"] + cmds + [p + ".tmp"],
           stdout=subprocess.DEVNULL)
        os.rename(p + ".tmp", p)
    return p


def sparse4g():
    z = os.path.join(D, "sparse-4G-lz4.data")
    lz = os.path.join(D, "sparse-4G.lz4")
    if not (os.path.exists(z) and os.path.exists(lz)):
        print("bench: building %s (once)" % z, flush=True)
        sh([os.path.join(B, "tests/bin/sparse_mk"), "big", "-z", "-s", "4G",
            "-l", lz + ".tmp", z + ".tmp"])
        os.rename(z + ".tmp", z)
        os.rename(lz + ".tmp", lz)
    return z, lz


def a7_1g():
    p = os.path.join(D, "a7-1024m.ar7")
    if not os.path.exists(p):
        print("bench: building %s (once)" % p, flush=True)
        sh([os.path.join(B, "tests/bin/a7_mk"), "--big", "1024", p + ".tmp"])
        os.rename(p + ".tmp", p)
    return p


# ---- rows ----------------------------------------------------------------

def wanted(rid):
    sel = os.environ.get("BENCH_ROWS")
    return not sel or rid in sel.split(",")


def qcow2_meta(path):
    """Bytes of qcow2 metadata: header cluster, L1, L2 tables, refcount
    table and blocks (read from the header and tables here, not by us)."""
    with open(path, "rb") as f:
        h = f.read(72)
        cb, l1n = struct.unpack(">I", h[20:24])[0], struct.unpack(
            ">I", h[36:40])[0]
        l1off, rtoff = struct.unpack(">QQ", h[40:56])
        rtc = struct.unpack(">I", h[56:60])[0]
        cs = 1 << cb
        f.seek(l1off)
        l1 = struct.unpack(">%dQ" % l1n, f.read(8 * l1n))
        f.seek(rtoff)
        rt = struct.unpack(">%dQ" % (rtc * cs // 8), f.read(rtc * cs))
    return (cs + 8 * l1n + cs * sum(1 for e in l1 if e) + rtc * cs +
            cs * sum(1 for e in rt if e))


def qed_meta(path):
    """Bytes of QED metadata: header clusters, L1 and L2 tables."""
    with open(path, "rb") as f:
        h = f.read(48)
        cs, ts, hs = struct.unpack("<III", h[4:16])
        l1off = struct.unpack("<Q", h[40:48])[0]
        tb = ts * cs
        f.seek(l1off)
        l1 = struct.unpack("<%dQ" % (tb // 8), f.read(tb))
    return hs * cs + tb + tb * sum(1 for e in l1 if e)


def row(rows, rid, what, vs, target, make, cold=False, kind="faster",
        prep_each=None, also_cold=True, meta=None):
    """make() builds the images (only for rows that run) and returns
    (our argv, their argv, files to warm).  A warm row runs cold too
    (rid-cold) unless also_cold is False (a row of its own says cold);
    meta(), when given, is the image's metadata size for the RSS bound
    (1.5x metadata + 64 MiB)."""
    if not cold and also_cold:
        row(rows, rid, what, vs, target, make, False, kind, prep_each,
            False, meta)
        row(rows, rid + "-cold", what + ", cold", vs,
            "(the warm row's)", make, True, kind, prep_each, False, meta)
        return
    if not wanted(rid):
        return
    if cold and not (ROOT and COLD):
        rows.append({"id": rid, "what": what, "vs": vs, "target": target,
                     "skipped": "cold runs need root to drop caches"})
        print("%-44s skipped: cold runs need root" % what, flush=True)
        return
    ours, theirs, files = make()
    o, t = measure(ours, theirs, files, cold, prep_each)
    ratio = t["median"] / o["median"] if o["median"] else 0.0
    r = {"id": rid, "what": what, "vs": vs, "target": target,
         "cold": cold, "ours": o, "theirs": t}
    if kind == "faster":
        r["speedup"] = ratio
        shown = "%.1fx faster" % ratio
    else:
        r["ratio"] = 1 / ratio if ratio else 0.0
        shown = "%.2fx its time" % r["ratio"]
    bound = ""
    if meta is not None:
        mb = meta()
        r["metadata_bytes"] = mb
        r["rss_bound_kib"] = int((1.5 * mb + (64 << 20)) / 1024)
        r["rss_ok"] = o["rss_kib"] <= r["rss_bound_kib"]
        bound = "; RSS %s (bound %d KiB: 1.5x %.1f MiB metadata + 64 MiB)" % (
            "ok" if r["rss_ok"] else "OVER", r["rss_bound_kib"],
            mb / 1048576)
    rows.append(r)
    print("%-44s ours %7.4f s (%.4f-%.4f, sys %.3f, %6d KiB) | %s "
          "%7.4f s (sys %.3f, %6d KiB) | %s, target %s%s" % (
              what, o["median"], o["min"], o["max"], o["sys_median"],
              o["rss_kib"], vs, t["median"], t["sys_median"], t["rss_kib"],
              shown, target, bound), flush=True)


def main():
    os.makedirs(D, exist_ok=True)
    for t in ("qemu-img", "qemu-io", RUNONE):
        if not shutil.which(t):
            sys.exit("bench: %s is needed (make deps)" % t)
    chk = os.path.join(BIN, "imgcheck")
    mapt = os.path.join(BIN, "imgmap")
    rep = os.path.join(BIN, "imgrepair")
    m = machine()
    m["cpus_used"] = CPUS or "all"
    print("machine: %s" % json.dumps(m), flush=True)
    rows = []

    def q1t():
        return qcow2("q1t.qcow2", "1T", "preallocation=metadata")

    def check_of(img):
        return lambda: ([chk, "-q", img()], ["qemu-img", "check", "-q",
                                             img()], [img()])
    row(rows, "check1t", "imgcheck 1 TiB qcow2 prealloc, warm",
        "qemu-img check", ">= 10x", check_of(q1t), also_cold=False,
        meta=lambda: qcow2_meta(q1t()))
    row(rows, "check1t-cold", "imgcheck 1 TiB qcow2 prealloc, cold",
        "qemu-img check", ">= 5x", check_of(q1t), cold=True,
        meta=lambda: qcow2_meta(q1t()))
    def q8g():
        return qcow2("q8g512-qemu.qcow2", "8G",
                     "preallocation=metadata,cluster_size=512")
    row(rows, "check8g512", "imgcheck 8 GiB qcow2 512 B clusters",
        "qemu-img check", ">= 50x", check_of(q8g), also_cold=False,
        meta=lambda: qcow2_meta(q8g()))
    row(rows, "check8g512-cold",
        "imgcheck 8 GiB qcow2 512 B clusters, cold",
        "qemu-img check", "(the warm row's)", check_of(q8g), cold=True,
        meta=lambda: qcow2_meta(q8g()))
    def q8t():
        return qcow2("q8t2m.qcow2", "8T",
                     "preallocation=metadata,cluster_size=2M")
    row(rows, "check8t", "imgcheck 8 TiB qcow2 2 MiB clusters",
        "qemu-img check", ">= 3x", check_of(q8t),
        meta=lambda: qcow2_meta(q8t()))
    row(rows, "checkqed", "imgcheck 64 GiB QED, 16 GiB written",
        "qemu-img check", ">= 3x",
        lambda: ([chk, "-q", qed64()], ["qemu-img", "check", "-q",
                                        qed64()], []),
        meta=lambda: qed_meta(qed64()))
    row(rows, "map1t", "imgmap --output=json 1 TiB qcow2",
        "qemu-img map", ">= 20x",
        lambda: ([mapt, "--output=json", q1t()],
                 ["qemu-img", "map", "--output=json", q1t()], [q1t()]),
        meta=lambda: qcow2_meta(q1t()))
    if shutil.which("lz4"):
        row(rows, "sparse", "imgcheck 4 GiB lz4 sparse stream", "lz4 -t",
            "<= 1x", lambda: ([chk, "-q", sparse4g()[0]],
                              ["lz4", "-t", sparse4g()[1]], list(sparse4g())),
            kind="ratio")
    row(rows, "a7", "imgcheck 1 GiB archive7 with key",
        "decrypt+SHA-1 floor", "<= 1.5x",
        lambda: ([chk, "-q", "--key-hex", KEY, a7_1g()],
                 [os.path.join(B, "tests/bin/a7_mk"), "--raw", a7_1g()],
                 [a7_1g()]), kind="ratio")
    out = os.path.join(D, "qed-repaired.qed")
    cpo = os.path.join(D, "qed-cp.qed")

    def clean():
        for p in (out, cpo):
            if os.path.exists(p):
                os.unlink(p)
    row(rows, "repairqed", "imgrepair -r all -o, the QED image",
        "cp --sparse=always", "<= 2x",
        lambda: ([rep, "-q", "-r", "all", "-o", out, qed64()],
                 ["cp", "--sparse=always", qed64(), cpo], []),
        kind="ratio", prep_each=clean, meta=lambda: qed_meta(qed64()))
    clean()
    path = os.path.join("build", "bench.json" if not CPUS else
                        "bench-cpus-%s.json" % CPUS.replace(",", "_"))
    if os.environ.get("BENCH_ROWS") and os.path.exists(path):
        # A subset replaces its own rows in the last full table.
        try:
            with open(path) as f:
                old = json.load(f)
            ids = {r["id"] for r in rows}
            rows = [r for r in old.get("rows", []) if r["id"] not in ids] \
                + rows
        except (OSError, ValueError, KeyError):
            pass
    with open(path + ".tmp", "w") as f:
        json.dump({"machine": m, "runs": N, "rows": rows}, f, indent=1)
    os.rename(path + ".tmp", path)
    print("bench: %s written" % path)


if __name__ == "__main__":
    main()
