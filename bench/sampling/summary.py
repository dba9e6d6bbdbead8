"""Tables from the sampler's files (bench/sampling/sitecustomize.py):

    .venv/bin/python bench/sampling/summary.py DIR [--top 25]

Per process file: CPU (ms) per thread, then by leaf frame (where it is spent: in Python or in
the C call the leaf makes) and by inclusive frame (who spends it). Weights are CPU time, so waits
cost nothing; the few leaves that are idle loops are left out anyway."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

IDLE_LEAVES = {
    "selectors.py:select",
    "threading.py:wait",
    "thread.py:_worker",
    "queue.py:get",
    "hub.py:run",
    "hub.py:wait",
    "threadpool.py:_worker",
    "_threading.py:wait",
    "_threading.py:acquire",
    "sitecustomize.py:_sample",
    "arbiter.py:sleep",
    "sync.py:wait",
    "base_events.py:run_forever",
    "workertmp.py:notify",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in sorted(args.directory.glob("*.folded")):
        threads: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        busy = 0
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            count = int(count_text)
            frames = stack.split(";")
            thread, frames = frames[0], frames[1:]
            threads[thread] += count
            if not frames or frames[-1] in IDLE_LEAVES:
                continue
            busy += count
            leaves[f"{thread}: {frames[-1]}"] += count
            for frame in set(frames):
                inclusive[frame] += count
        if busy == 0:
            continue
        print(f"== {path.name}: {sum(threads.values()) / 1000:.0f} ms CPU, {busy / 1000:.0f} not idle")
        print("   threads: " + ", ".join(f"{t} {c / 1000:.0f} ms" for t, c in threads.most_common()))
        print("   -- leaf (non-idle) --")
        for frame, count in leaves.most_common(args.top):
            print(f"   {count / 1000:9.1f} ms {100 * count / busy:5.1f}%  {frame}")
        print("   -- inclusive (non-idle) --")
        for frame, count in inclusive.most_common(args.top * 2):
            print(f"   {count / 1000:9.1f} ms {100 * count / busy:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
