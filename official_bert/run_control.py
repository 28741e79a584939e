"""Running a training loop: progress lines, and stopping on SIGINT / SIGTERM.

`Progress` sizes the loop's calls and logs a progress line (step, loss,
learning rate, examples/s, model GFLOP/s and model FLOP/s utilisation, ETA)
every `--log_every_n_steps` steps, or about every `AUTO_LOG_SECONDS` seconds;
`StopOnSignals` makes SIGINT and SIGTERM stop a `Trainer` at the next step
boundary. Used by `official_bert.training`.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

from absl import logging

# With --log_every_n_steps=0, a progress line about this often (seconds): short
# enough that a CPU user sees training move, long enough not to flood the log.
AUTO_LOG_SECONDS = 30.0


class Progress:
    """Decides how many steps run per call and logs the progress lines.

    With `log_every_n_steps` > 0 a line comes every that many steps. With 0
    the first call runs one step (it also traces and compiles), and later calls
    are sized from the measured step time to end about every AUTO_LOG_SECONDS.
    A line gives the model's GFLOP/s and FLOP/s utilisation (MFU) when the
    logs have `model_flops_per_sec` and `model_flops_utilization` (the
    `Trainer` adds them: see official_bert.throughput).
    """

    def __init__(self, step: int, target: int, log_every_n_steps: int):
        self.start_step = step
        self.target = target
        self.log_every_n_steps = log_every_n_steps
        self._seconds_per_step: float | None = None
        self._calls = 0
        self._last_logged = step

    def steps_per_call(self) -> int:
        if self.log_every_n_steps > 0:
            return self.log_every_n_steps
        if self._seconds_per_step is None:
            return 1
        return max(1, int(AUTO_LOG_SECONDS / max(self._seconds_per_step, 1e-6)))

    def update(self, step: int, steps: int, elapsed: float, logs: Mapping[str, float]) -> None:
        self._calls += 1
        if self._calls > 1 or self._seconds_per_step is None:
            # The first call includes tracing: replaced by the next measurement.
            per_step = elapsed / steps
            if self._seconds_per_step is None or self._calls <= 2:
                self._seconds_per_step = per_step
            else:
                self._seconds_per_step = 0.5 * self._seconds_per_step + 0.5 * per_step
        due = (
            self.log_every_n_steps <= 0
            or step % self.log_every_n_steps == 0
            or step >= self.target
            or step - self._last_logged >= self.log_every_n_steps
        )
        if not due:
            return
        self._last_logged = step
        remaining = (self.target - step) * (self._seconds_per_step or 0.0)
        logging.info(
            "step = %d/%d, loss = %.6f, learning_rate = %.6g, examples/sec = %.2f%s, ETA = %s",
            step,
            self.target,
            logs["loss"],
            logs["learning_rate"],
            logs["examples_per_sec"],
            format_model_flops(logs),
            _format_duration(remaining) if self._calls > 1 or step >= self.target else "?",
        )


def format_model_flops(logs: Mapping[str, float]) -> str:
    """ ", model GFLOP/s = Y, MFU = Z%" for logs with `model_flops_per_sec` (else "").

    MFU is the model FLOP/s utilisation, `model_flops_utilization`: the
    model's FLOP/s over the machine's measured matmul rate (see
    official_bert.throughput).
    """
    if "model_flops_per_sec" not in logs:
        return ""
    gflops = logs["model_flops_per_sec"] / 1e9
    mfu = 100.0 * logs["model_flops_utilization"]
    return f", model GFLOP/s = {gflops:.4g}, MFU = {mfu:.3g}%"


def _format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


class StopOnSignals:
    """Within `with`: SIGINT and SIGTERM stop training at the next step boundary.

    Python runs signal handlers only in the main thread, between bytecodes: a
    handler would wait for the whole `tf.function` call to return. So each call
    runs in a worker thread (`call`) while the main thread waits in short
    slices, runs the handler at once, and asks the trainer to stop; the loop
    then returns at the next step boundary. A second signal exits the process
    at once. Outside the main thread (a notebook's worker, a test harness's
    thread) nothing is installed and calls run in place.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, trainer: Any):
        self.trainer = trainer
        self.signum: int | None = None
        self._active = threading.current_thread() is threading.main_thread()
        self._previous: dict = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def __enter__(self) -> StopOnSignals:
        self.trainer._stop_requested.assign(False)
        if self._active:
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="official_bert-train"
            )
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.trainer._stop_requested.assign(False)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            logging.error("Second %s: exiting now. The last checkpoint written is intact.", name)
            logging.flush()
            os._exit(128 + signum)
        self.signum = signum
        logging.warning(
            "%s received: stopping at the next step boundary and writing a checkpoint "
            "(send it again to exit at once).",
            name,
        )
        self.trainer.request_stop()

    def call(self, fn: Callable, *args: Any) -> Any:
        if self._executor is None:
            return fn(*args)
        future = self._executor.submit(fn, *args)
        while True:
            try:
                return future.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                continue
