"""Per-trial resource metrics: the trial's own CPU, memory and GPUs, logged to its MLflow run.

A thread in the trial's process (inline, or its Ray worker) samples every ``interval`` seconds:

- ``system/process_cpu_percentage``: the process's CPU time (and its waited-for children's) over
  the wall time since the last sample (100 per busy core);
- ``system/process_memory_megabytes``: its resident memory;
- for each GPU the trial sees, when torch has initialized CUDA: ``system/gpu_N_memory_megabytes``
  (the memory this process reserved on it) and, with NVML installed,
  ``system/gpu_N_utilization_percentage``. ``N`` counts the devices the trial sees: on Ray, those
  it was given (``CUDA_VISIBLE_DEVICES``), never the whole node's.

MLflow's own system metrics monitor logs from the process to the tracking store, and reports the
whole machine's CPU, memory and every GPU; here the samples travel with the trial's other records
(to the driver's single MLflow writer) and describe the trial alone. They are buffered by the
thread and handed over by the trial's own thread, at its next report or metric and at its end.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

__all__ = ["ResourceMonitor"]

PREFIX = "system/"


class ResourceMonitor:
    """The objective, with a sampler of its trial's resources running beside it (picklable: it
    travels to Ray workers with the objective).

    Args:
        objective: ``objective(params, trial)``.
        interval: Seconds between samples.
    """

    def __init__(self, objective: Any, interval: float) -> None:
        self.objective = objective
        self.interval = interval

    def __call__(self, params: dict[str, Any], trial: Any) -> Any:
        sampler = _Sampler(self.interval)
        flush = _Flush(sampler, trial)
        trial._before_records.append(flush)
        sampler.start()
        try:
            return self.objective(params, trial)
        finally:
            sampler.stop()
            trial._before_records.remove(flush)
            flush()


class _Flush:
    """Hands the sampler's samples to the trial's reporter (called in the trial's thread)."""

    def __init__(self, sampler: _Sampler, trial: Any) -> None:
        self.sampler, self.trial = sampler, trial

    def __call__(self) -> None:
        for step, metrics in self.sampler.take():
            self.trial._reporter.log_metrics(self.trial.number, metrics, step)


class _Sampler(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(name="hpo-resources", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._samples: list[tuple[int, dict[str, float]]] = []
        self._step = 0
        self._last = (time.monotonic(), _cpu_seconds())

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self._sample()  # the last stretch

    def take(self) -> list[tuple[int, dict[str, float]]]:
        with self._lock:
            samples, self._samples = self._samples, []
        return samples

    def _sample(self) -> None:
        now, cpu = time.monotonic(), _cpu_seconds()
        then, cpu_then = self._last
        self._last = (now, cpu)
        metrics = {f"{PREFIX}process_memory_megabytes": _rss_bytes() / 2**20}
        if now > then:
            metrics[f"{PREFIX}process_cpu_percentage"] = 100.0 * (cpu - cpu_then) / (now - then)
        metrics.update(_gpu_metrics())
        with self._lock:
            self._samples.append((self._step, metrics))
            self._step += 1


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm", "rb") as file:
            return float(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak, as the OS keeps it
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)


def _gpu_metrics() -> dict[str, float]:
    """The trial's GPUs, if torch has initialized CUDA in this process (never initialized here)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return {}
    out = {}
    for index in range(torch.cuda.device_count()):  # the devices this process sees
        out[f"{PREFIX}gpu_{index}_memory_megabytes"] = torch.cuda.memory_reserved(index) / 2**20
        try:
            out[f"{PREFIX}gpu_{index}_utilization_percentage"] = float(torch.cuda.utilization(index))
        except Exception:  # no NVML (pynvml) installed
            pass
    return out
