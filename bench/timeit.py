#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# timeit.py --- run a command N times; print its median wall time and peak
# RSS (from wait4), as one line: "LABEL  median 0.123 s  rss 4567 KiB".
import os
import subprocess
import sys
import time


def run_once(argv):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.monotonic() - t0, ru.ru_maxrss, os.waitstatus_to_exitcode(status)


def main():
    label, n = sys.argv[1], int(sys.argv[2])
    argv = sys.argv[3:]
    times, rss, rcs = [], 0, set()
    for _ in range(n):
        t, r, rc = run_once(argv)
        times.append(t)
        rss = max(rss, r)
        rcs.add(rc)
    times.sort()
    med = times[len(times) // 2]
    print("%-28s median %8.3f s  peak rss %8d KiB  exit %s" %
          (label, med, rss, ",".join(str(c) for c in sorted(rcs))))
    print("#%s %.6f %d" % (label, med, rss))


main()
