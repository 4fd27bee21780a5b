#!/usr/bin/env python3
"""What one durable-state write costs each way on a filesystem (docs/benchmarks.md, "DEL").

  rename-over: name.tmp written, then renamed over the existing name (ext4's auto_da_alloc
               flushes the data of a file renamed over another: what every cooldown change did)
  generation:  name.<n+1>.tmp written, renamed to name.<n+1>, name.<n> unlinked (what the agent does now)

Usage: scripts/rename-cost.py [DIR] [--writes 200] [--batch 20]   (DIR defaults to a fresh folder in /var/tmp)
Writes a 400-byte file WRITES times each way, interleaved in batches, and prints median, p90, max in ms.
"""
import argparse, os, shutil, statistics, tempfile, time

def rename_over(d, i, data):
    tmp, final = os.path.join(d, "cooldown.json.tmp"), os.path.join(d, "cooldown.json")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, final)

def generation(d, i, data):
    tmp, final = os.path.join(d, f"cooldown.{i + 1}.json.tmp"), os.path.join(d, f"cooldown.{i + 1}.json")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, final)
    old = os.path.join(d, f"cooldown.{i}.json")
    if os.path.exists(old):
        os.unlink(old)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="?")
    p.add_argument("--writes", type=int, default=200)
    p.add_argument("--batch", type=int, default=20)
    a = p.parse_args()
    root = a.dir or tempfile.mkdtemp(prefix="fathom-rename-", dir="/var/tmp")
    ways = {"rename-over": rename_over, "generation": generation}
    dirs = {w: os.path.join(root, w) for w in ways}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    data, times, counts = b"x" * 400, {w: [] for w in ways}, {w: 0 for w in ways}
    try:
        while min(len(t) for t in times.values()) < a.writes:
            for w, write in ways.items():
                for _ in range(a.batch):
                    start = time.perf_counter()
                    write(dirs[w], counts[w], data)
                    times[w].append((time.perf_counter() - start) * 1000)
                    counts[w] += 1
        for w, t in times.items():
            t = sorted(t[:a.writes])
            print(f"{w:12} n={len(t)} median {statistics.median(t):.2f} ms  p90 {t[int(len(t) * 0.9)]:.2f} ms  max {t[-1]:.2f} ms")
    finally:
        if not a.dir:
            shutil.rmtree(root)

if __name__ == "__main__":
    main()
