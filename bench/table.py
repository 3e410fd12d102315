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
# BENCH_ROWS=check1t,map1t runs a subset; BENCH_COLD=0 skips cold runs.
import json
import os
import platform
import shutil
import statistics
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
    virt = None
    if shutil.which("systemd-detect-virt"):
        p = subprocess.run(["systemd-detect-virt"], capture_output=True,
                           text=True)
        virt = p.stdout.strip() or None
    mem = first("/proc/meminfo", "MemTotal")
    fs = subprocess.run(["df", "-T", D], capture_output=True, text=True)
    return {
        "kernel": platform.release(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "memory": mem,
        "virtualization": virt,
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


def run_once(argv, prep=None):
    """Wall time from here; system/user time and peak RSS from GNU time,
    whose child is forked from a small process: a child forked from this
    Python would carry Python's RSS into its ru_maxrss across exec."""
    if prep:
        prep()
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-o", TIMEF, "-f", "%S %U %M %x"]
                       + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    with open(TIMEF) as f:
        last = f.read().split("\n")[-2].split()
    return {"wall": wall, "sys": float(last[0]), "user": float(last[1]),
            "rss_kib": int(last[2]), "exit": int(last[3])}


def summary(runs):
    w = [r["wall"] for r in runs]
    return {"median": statistics.median(w), "min": min(w), "max": max(w),
            "sys_median": statistics.median(r["sys"] for r in runs),
            "rss_kib": max(r["rss_kib"] for r in runs),
            "exits": sorted({r["exit"] for r in runs}), "runs": len(runs)}


def measure(ours, theirs, files, cold, prep_each=None):
    """Alternate ours and theirs N times; return both summaries.  Warm
    rows whose files are too big to read whole (their data is the image's
    payload) are primed by one untimed run of each command instead."""
    a, b = [], []
    if not cold and not files:
        for argv in (ours, theirs):
            if prep_each:
                prep_each()
            run_once(argv)
    for _ in range(N):
        for argv, acc in ((ours, a), (theirs, b)):
            if prep_each:
                prep_each()
            if cold:
                r = run_once(argv, drop_caches)
            else:
                warm(files)
                r = run_once(argv)
            acc.append(r)
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


def row(rows, rid, what, vs, target, make, cold=False, kind="faster",
        prep_each=None):
    """make() builds the images (only for rows that run) and returns
    (our argv, their argv, files to warm)."""
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
    rows.append(r)
    print("%-44s ours %7.3f s (%.3f-%.3f, sys %.3f, %6d KiB) | %s "
          "%7.3f s (sys %.3f, %6d KiB) | %s, target %s" % (
              what, o["median"], o["min"], o["max"], o["sys_median"],
              o["rss_kib"], vs, t["median"], t["sys_median"], t["rss_kib"],
              shown, target), flush=True)


def main():
    os.makedirs(D, exist_ok=True)
    for t in ("qemu-img", "qemu-io", "/usr/bin/time"):
        if not shutil.which(t):
            sys.exit("bench: %s is needed (make deps)" % t)
    chk = os.path.join(BIN, "imgcheck")
    mapt = os.path.join(BIN, "imgmap")
    rep = os.path.join(BIN, "imgrepair")
    m = machine()
    print("machine: %s" % json.dumps(m), flush=True)
    rows = []

    def q1t():
        return qcow2("q1t.qcow2", "1T", "preallocation=metadata")

    def check_of(img):
        return lambda: ([chk, "-q", img()], ["qemu-img", "check", "-q",
                                             img()], [img()])
    row(rows, "check1t", "imgcheck 1 TiB qcow2 prealloc, warm",
        "qemu-img check", ">= 10x", check_of(q1t))
    row(rows, "check1t-cold", "imgcheck 1 TiB qcow2 prealloc, cold",
        "qemu-img check", ">= 5x", check_of(q1t), cold=True)
    row(rows, "check8g512", "imgcheck 8 GiB qcow2 512 B clusters",
        "qemu-img check", ">= 50x", check_of(lambda: qcow2(
            "q8g512-qemu.qcow2", "8G",
            "preallocation=metadata,cluster_size=512")))
    row(rows, "check8g512-cold",
        "imgcheck 8 GiB qcow2 512 B clusters, cold",
        "qemu-img check", ">= 50x", check_of(lambda: qcow2(
            "q8g512-qemu.qcow2", "8G",
            "preallocation=metadata,cluster_size=512")), cold=True)
    row(rows, "check8t", "imgcheck 8 TiB qcow2 2 MiB clusters",
        "qemu-img check", ">= 3x", check_of(lambda: qcow2(
            "q8t2m.qcow2", "8T", "preallocation=metadata,cluster_size=2M")))
    row(rows, "checkqed", "imgcheck 64 GiB QED, 16 GiB written",
        "qemu-img check", ">= 3x",
        lambda: ([chk, "-q", qed64()], ["qemu-img", "check", "-q",
                                        qed64()], []))
    row(rows, "map1t", "imgmap --output=json 1 TiB qcow2",
        "qemu-img map", ">= 20x",
        lambda: ([mapt, "--output=json", q1t()],
                 ["qemu-img", "map", "--output=json", q1t()], [q1t()]))
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
        kind="ratio", prep_each=clean)
    clean()
    with open(os.path.join("build", "bench.json"), "w") as f:
        json.dump({"machine": m, "runs": N, "rows": rows}, f, indent=1)
    print("bench: build/bench.json written")


if __name__ == "__main__":
    main()
