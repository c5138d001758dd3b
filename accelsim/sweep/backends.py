"""Where sweep tasks run: a registry of backends sharing submit / wait_any / close.

* `local`: worker processes (concurrent.futures.ProcessPoolExecutor), os.cpu_count() default;
  each worker exits within PARENT_POLL_S of its parent's death, even a SIGKILL.
* `dask`: a Dask distributed cluster at a scheduler address, or a LocalCluster (forked
  workers on Linux) when none is given. Dask is the optional extra `accelsim[dask]`,
  imported only here and only then.
* `serial`: everything in the calling process (debugging, tiny sweeps).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from accelsim.errors import AccelsimError, ConfigError

__all__ = ["BACKENDS", "Backend", "DaskBackend", "LocalBackend", "SerialBackend",
           "make_backend"]


class Backend(Protocol):
    """Runs functions somewhere and hands back futures."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start fn(*args); return a future with .result()."""
        ...

    def wait_any(self, futures: Iterable[Any]) -> set[Any]:
        """Block until at least one future is done; return the done ones."""
        ...

    def close(self, cancel: bool = False) -> None:
        """Release workers; cancel queued work when `cancel`."""
        ...


#: How often a worker checks that the sweep that started it is still alive, in seconds.
PARENT_POLL_S = 0.2


def _watch_parent(parent: int) -> None:
    """Exit this worker as soon as `parent` is no longer its parent (it died)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _init_worker() -> None:
    """Workers leave Ctrl-C to the parent, and exit when the parent dies (however it dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True,
                     name="accelsim-parent-watch").start()


class LocalBackend:
    """Worker processes on this machine."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.pool = ProcessPoolExecutor(self.workers, initializer=_init_worker)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Start fn(*args) in a worker process."""
        return self.pool.submit(fn, *args)

    def wait_any(self, futures: Iterable[Any]) -> set[Any]:
        """The futures that are done (at least one)."""
        return set(wait(list(futures), return_when=FIRST_COMPLETED).done)

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down, dropping queued tasks when `cancel`."""
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class SerialBackend:
    """Runs every task at once in the calling process."""

    workers = 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run fn(*args) now; the future is already done."""
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - re-raised by .result()
            future.set_exception(exc)
        return future

    def wait_any(self, futures: Iterable[Any]) -> set[Any]:
        """All futures (they are done)."""
        return set(futures)

    def close(self, cancel: bool = False) -> None:
        """Nothing to release."""


class DaskBackend:
    """A Dask distributed client: at `scheduler`, given as `client`, or on a LocalCluster."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 client: Any = None) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise AccelsimError(
                "backend dask: dask.distributed is not installed; "
                "install it with `pip install accelsim[dask]`") from None
        self._own = client is None
        self._cluster = None
        if client is not None:
            self.client = client
        elif scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise AccelsimError(
                    f"backend dask: cannot reach scheduler {scheduler}: {exc}") from None
        else:
            import dask

            # Forked workers start with this process's modules loaded: 0.7 s for a cluster
            # of two instead of 3 s, and 0.1 s instead of 1 s to close it (Linux only:
            # elsewhere fork is unsafe or missing).
            method = {"distributed.worker.multiprocessing-method": "fork"} \
                if sys.platform.startswith("linux") else {}
            with dask.config.set(method):
                self._cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                             threads_per_worker=1, dashboard_address=None)
            self.client = Client(self._cluster)
        info = self.client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start fn(*args) on the cluster (never deduplicated by key)."""
        return self.client.submit(fn, *args, pure=False)

    def wait_any(self, futures: Iterable[Any]) -> set[Any]:
        """The futures that are done (at least one)."""
        from dask.distributed import wait as dask_wait

        return set(dask_wait(list(futures), return_when="FIRST_COMPLETED").done)

    def close(self, cancel: bool = False) -> None:
        """Close the client and cluster this backend created (a given client stays open)."""
        if self._own:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()


BACKENDS: dict[str, Callable[..., Backend]] = {
    "local": lambda scheduler=None, workers=None: LocalBackend(workers),
    "dask": lambda scheduler=None, workers=None: DaskBackend(scheduler, workers),
    "serial": lambda scheduler=None, workers=None: SerialBackend(),
}


def make_backend(name: str, scheduler: str | None = None, workers: int | None = None
                 ) -> Backend:
    """The backend registered under `name`."""
    if name not in BACKENDS:
        raise ConfigError(f"backend: must be one of {', '.join(BACKENDS)}, got {name!r}")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: must be >= 1, got {workers}")
    return BACKENDS[name](scheduler=scheduler, workers=workers)
