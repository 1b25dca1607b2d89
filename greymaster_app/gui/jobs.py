"""Background jobs for the window: work runs on one worker thread, results land on the GUI thread.

A job has a name; submitting a job under a name supersedes the one still queued or running under
it (its result is dropped), so a burst of knob moves renders once for the latest values. Results
and errors are delivered by ``poll``, which the window calls from its GUI timer: nothing crosses
threads through Qt, and no callback runs on the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class _Job:
    future: Future
    on_done: Callable[[Any], None]
    on_error: Callable[[BaseException], None]


class JobRunner:
    """One worker thread; the newest job per name wins."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="greymaster-job")
        self._jobs: dict[str, _Job] = {}

    def submit(self, name: str, work: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[BaseException], None]) -> None:
        """Run ``work()`` on the worker; ``on_done(result)`` or ``on_error(exception)`` is called
        from a later ``poll`` unless another job named ``name`` was submitted meanwhile."""
        previous = self._jobs.get(name)
        if previous is not None:
            previous.future.cancel()
        self._jobs[name] = _Job(self._pool.submit(work), on_done, on_error)

    def busy(self, name: str | None = None) -> bool:
        """Whether a job (under ``name``, or any) is queued, running, or finished with its
        result not yet delivered by ``poll``."""
        return any(name is None or key == name for key in self._jobs)

    def poll(self) -> None:
        """Deliver the results of finished jobs (GUI thread)."""
        for name, job in list(self._jobs.items()):
            if not job.future.done():
                continue
            del self._jobs[name]
            if job.future.cancelled():
                continue
            error = job.future.exception()
            if error is None:
                job.on_done(job.future.result())
            else:
                job.on_error(error)

    def shutdown(self) -> None:
        """Drop queued jobs and wait for the running one."""
        for job in self._jobs.values():
            job.future.cancel()
        self._jobs.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
