"""Paired-round timing on a noisy shared machine (the method is in README.md).

Each round runs every variant once; rounds in which other processes used more
than `max_other_cores` of CPU are dropped (but kept if every round would be).
Figures are medians over the kept rounds, ratios the median of the per-round
ratios.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass
class Rounds:
    """The times of paired rounds: `kept[i][name]` is the seconds `name` took in round i."""

    kept: list[dict[str, float]]
    dropped: int  # rounds dropped for other load
    noisy: bool  # every round had other load, so all were kept

    def median_s(self, name: str) -> float:
        return statistics.median(t[name] for t in self.kept)

    def best_s(self, name: str) -> float:
        return min(t[name] for t in self.kept)

    def ratio(self, name: str, reference: str) -> float:
        """Median over rounds of time(name) / time(reference): < 1 means `name` is faster."""
        return statistics.median(t[name] / t[reference] for t in self.kept)

    def speedup(self, name: str, reference: str) -> float:
        """Median over rounds of time(reference) / time(name): > 1 means `name` is faster."""
        return statistics.median(t[reference] / t[name] for t in self.kept)


def _milliseconds(times: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in times.items())


def timed_rounds(
    variants: dict[str, Callable[[], object]],
    rounds: int = 7,
    max_other_cores: float = 0.3,
    log: Callable[[str], None] = print,
    rotate: bool = False,
    describe: Callable[[dict[str, float]], str] = _milliseconds,
) -> Rounds:
    """Times each variant once per round, `rounds` times.

    Args:
      variants: name -> function to time (called with no arguments).
      rounds: how many rounds.
      max_other_cores: a round in which other processes used more CPU than
        this many cores is dropped, unless every round would be.
      log: where the per-round lines go.
      rotate: start round r with the (r mod n)-th variant, so that no variant
        always runs first or last.
      describe: formats one round's times (name -> seconds) for the log.
    """
    kept, dropped = [], []
    names = list(variants)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)] if rotate else names
        busy0, own0, wall0 = _total_busy_ticks(), _own_ticks(), time.perf_counter()
        times = {}
        for name in order:
            start = time.perf_counter()
            variants[name]()
            times[name] = time.perf_counter() - start
        wall = time.perf_counter() - wall0
        other = ((_total_busy_ticks() - busy0) - (_own_ticks() - own0)) / _CLOCK_TICKS / wall
        times = {name: times[name] for name in names}
        log(f"round {r}: {describe(times)}; other processes {other:.2f} cores; load {loadavg()}")
        (kept if other <= max_other_cores else dropped).append(times)
    if not kept:
        log(f"all {len(dropped)} rounds had other load above {max_other_cores} cores; keeping all")
        return Rounds(kept=dropped, dropped=0, noisy=True)
    if dropped:
        log(f"dropped {len(dropped)} rounds with other load above {max_other_cores} cores")
    return Rounds(kept=kept, dropped=len(dropped), noisy=False)


def paired_rounds(
    variants: dict[str, Callable[[], object]],
    reference: str,
    rounds: int = 7,
    max_other_cores: float = 0.3,
    log: Callable[[str], None] = print,
    rotate: bool = False,
) -> dict[str, dict[str, float]]:
    """Times each variant once per round (see `timed_rounds`); returns per-variant statistics.

    Returns:
      {name: {"median_s", "best_s", "ratio", "rounds"}} where ratio is the
      median over kept rounds of time(name) / time(reference).
    """
    times = timed_rounds(variants, rounds, max_other_cores, log, rotate)
    return {
        name: {
            "median_s": times.median_s(name),
            "best_s": times.best_s(name),
            "ratio": times.ratio(name, reference),
            "rounds": len(times.kept),
        }
        for name in variants
    }


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


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cpu_flags(prefixes: tuple[str, ...] = ("avx512", "amx")) -> list[str]:
    """The CPU's /proc/cpuinfo flags that start with one of `prefixes`, sorted."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return sorted(f for f in set(flags) if f.startswith(prefixes))
    except OSError:
        pass
    return []


def cpu_description() -> str:
    """The CPU's model name and its AVX-512 / AMX flags, for the line every figure is printed with."""
    flags = cpu_flags()
    return f"{cpu_model()}; {' '.join(flags) if flags else 'no AVX-512, no AMX'}"


def matmul_gflops(
    m: int = 1024, k: int = 768, n: int = 3072, repeats: int = 10, dtype: str = "float32"
) -> float:
    """GFLOP/s of a tf.matmul of the given shape and dtype (best of `repeats`)."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal([m, k]), dtype)
    b = tf.cast(tf.random.normal([k, n]), dtype)
    fn = tf.function(lambda: tf.matmul(a, b))
    fn().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn().numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * m * k * n / best / 1e9
