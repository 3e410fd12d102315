#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# scale.py --- how imgcheck's time and memory grow with the image size, the
# cluster size and the number of snapshots: three points each, images made
# by qemu-img/qemu-io once into build/bench/scale, medians of BENCH_RUNS
# (default 3) warm runs.  Prints a Markdown table for README's scale notes
# and writes build/bench-scale.json.
import json
import os
import statistics
import subprocess
import time

B = os.environ.get("B", "build")
CHK = os.path.join(B, "bin", "imgcheck")
D = os.path.join("build", "bench", "scale")
N = int(os.environ.get("BENCH_RUNS", "3"))


def run(argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def make(name, size, opts, snaps=0):
    p = os.path.join(D, name)
    if os.path.exists(p):
        return p
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, p + ".tmp",
         size])
    for i in range(snaps):
        # One cluster rewritten per snapshot: each has its own L1 and
        # shares the rest, as a VM's daily snapshots do.
        run(["qemu-io", "-c", "write -P %d %dM 64k" % (i % 250 + 1, i),
             p + ".tmp"])
        run(["qemu-img", "snapshot", "-c", "s%d" % i, p + ".tmp"])
    os.rename(p + ".tmp", p)
    return p


def measure(p):
    w, rss = [], 0
    with open(p, "rb") as f:		# warm: metadata only is read
        pass
    for _ in range(N + 1):
        t0 = time.monotonic()
        pr = subprocess.Popen([CHK, "-q", p])
        _, _, ru = os.wait4(pr.pid, 0)
        w.append(time.monotonic() - t0)
        rss = max(rss, ru.ru_maxrss)
    return statistics.median(w[1:]), rss


def main():
    os.makedirs(D, exist_ok=True)
    pts = [
        ("size", "64 GiB", make("s64g.qcow2", "64G", "preallocation=metadata")),
        ("size", "256 GiB", make("s256g.qcow2", "256G",
                                 "preallocation=metadata")),
        ("size", "1 TiB", make("s1t.qcow2", "1T", "preallocation=metadata")),
        ("cluster size (8 GiB)", "512 B", make(
            "c512.qcow2", "8G", "preallocation=metadata,cluster_size=512")),
        ("cluster size (8 GiB)", "64 KiB", make(
            "c64k.qcow2", "8G", "preallocation=metadata")),
        ("cluster size (8 GiB)", "2 MiB", make(
            "c2m.qcow2", "8G", "preallocation=metadata,cluster_size=2M")),
        ("snapshots (1 GiB)", "0", make("n0.qcow2", "1G",
                                        "preallocation=metadata")),
        ("snapshots (1 GiB)", "10", make("n10.qcow2", "1G",
                                         "preallocation=metadata", 10)),
        ("snapshots (1 GiB)", "100", make("n100.qcow2", "1G",
                                          "preallocation=metadata", 100)),
    ]
    rows = []
    print("| grows with | image | metadata | imgcheck | peak RSS |")
    print("|---|---|---|---|---|")
    for what, point, p in pts:
        meta = os.stat(p).st_blocks * 512
        t, rss = measure(p)
        rows.append({"what": what, "point": point, "allocated": meta,
                     "seconds": t, "rss_kib": rss})
        print("| %s | %s | %.1f MiB | %.3f s | %.1f MiB |" % (
            what, point, meta / 1048576, t, rss / 1024), flush=True)
    with open(os.path.join("build", "bench-scale.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
