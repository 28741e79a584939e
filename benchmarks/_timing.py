"""Paired-round timing on a noisy shared machine (see ../shared/BENCHMARKS.md).

Each round runs every variant once; rounds in which other processes used more
than `max_other_cores` of CPU are dropped (but kept if every round would be).
The figure reported is the median of the per-round ratios to the reference.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _total_busy_ticks() -> int:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


def _own_ticks() -> int:
    with open("/proc/self/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime are fields 14-17 (1-based) of the full line.
    return sum(int(x) for x in parts[11:15])


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def paired_rounds(
    variants: dict[str, Callable[[], object]],
    reference: str,
    rounds: int = 7,
    max_other_cores: float = 0.3,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Times each variant once per round; returns per-variant statistics.

    Returns:
      {name: {"median_s", "best_s", "ratio"}} where ratio is the median over
      kept rounds of time(name) / time(reference).
    """
    kept, dropped = [], []
    for r in range(rounds):
        busy0, own0, wall0 = _total_busy_ticks(), _own_ticks(), time.perf_counter()
        times = {}
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name] = time.perf_counter() - start
        wall = time.perf_counter() - wall0
        other = ((_total_busy_ticks() - busy0) - (_own_ticks() - own0)) / _CLOCK_TICKS / wall
        line = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in times.items())
        log(f"round {r}: {line}; other processes {other:.2f} cores; load {loadavg()}")
        (kept if other <= max_other_cores else dropped).append(times)
    if not kept:
        log(f"all {len(dropped)} rounds had other load above {max_other_cores} cores; keeping all")
        kept = dropped
    elif dropped:
        log(f"dropped {len(dropped)} rounds with other load above {max_other_cores} cores")
    stats = {}
    for name in variants:
        values = [t[name] for t in kept]
        ratios = [t[name] / t[reference] for t in kept]
        stats[name] = {
            "median_s": statistics.median(values),
            "best_s": min(values),
            "ratio": statistics.median(ratios),
            "rounds": len(kept),
        }
    return stats


def copy_bandwidth(num_bytes: int = 1 << 28, repeats: int = 5) -> float:
    """Memory bandwidth in bytes/s, from the best of `repeats` large array copies."""
    src = np.ones(num_bytes // 4, np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * num_bytes / best  # one read and one write per byte copied


def matmul_gflops(m: int = 1024, k: int = 768, n: int = 3072, repeats: int = 10) -> float:
    """GFLOP/s of a float32 tf.matmul of the given shape (best of `repeats`)."""
    import tensorflow as tf

    a = tf.random.normal([m, k])
    b = tf.random.normal([k, n])
    fn = tf.function(lambda: tf.matmul(a, b))
    fn().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn().numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * m * k * n / best / 1e9
