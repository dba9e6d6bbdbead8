"""A sampling profiler for bench runs (bench/commands.py --profile DIR puts this directory on
PYTHONPATH): every process started with SWITCHBOARD_BENCH_PROFILE set samples the Python stacks of
all its threads every few milliseconds, each weighted by the CPU time its thread used since the
previous sample (microseconds), and writes them collapsed (one `frame;frame;... weight` line each)
to DIR/<program>-<pid>.folded every few seconds. A forked child (a gunicorn worker)
samples itself. bench/sampling/summary.py turns the files into tables."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter

_DIR = os.environ.get("SWITCHBOARD_BENCH_PROFILE")
_INTERVAL = float(os.environ.get("SWITCHBOARD_BENCH_PROFILE_INTERVAL", "0.002"))
_WRITE_EVERY = 2.0


def _sample(directory: str) -> None:
    me = threading.get_ident()
    counts: Counter[str] = Counter()
    names: dict[int, str] = {}
    used: dict[int, float] = {}
    program = os.path.basename(sys.argv[0] or "python").replace(".py", "") or "python"
    if program == "-m" or program == "python":
        program = "python"
    path = os.path.join(directory, f"{program}-{os.getpid()}.folded")
    written = time.monotonic()
    while True:
        time.sleep(_INTERVAL)
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            try:
                cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
            except (OSError, OverflowError):
                continue
            spent = int((cpu - used.get(ident, cpu)) * 1_000_000)
            used[ident] = cpu
            if spent <= 0:
                continue
            stack = []
            depth = 0
            while frame is not None and depth < 80:
                code = frame.f_code
                stack.append(f"{os.path.basename(code.co_filename)}:{code.co_name}")
                frame = frame.f_back
                depth += 1
            thread = names.get(ident)
            if thread is None:
                for t in threading.enumerate():
                    names[t.ident] = t.name
                thread = names.get(ident, str(ident))
            counts[thread + ";" + ";".join(reversed(stack))] += spent
        if time.monotonic() - written > _WRITE_EVERY:
            written = time.monotonic()
            with open(path + ".tmp", "w") as handle:
                for line, count in counts.items():
                    handle.write(f"{line} {count}\n")
            os.replace(path + ".tmp", path)


def _start() -> None:
    if _DIR:
        threading.Thread(target=_sample, args=(_DIR,), name="bench-sampler", daemon=True).start()


if _DIR:
    _start()
    os.register_at_fork(after_in_child=_start)
