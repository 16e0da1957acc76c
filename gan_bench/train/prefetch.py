"""The input pipeline of a run: the next steps' real batches, loaded and transferred in a thread.

A batch is a pure function of (seed, step) (`engine.real_batches`), so loading ahead changes no number; it
only keeps the device from waiting on the host while it could be stepping.
"""
import queue
import threading
from typing import Iterable


class Prefetcher:
    """Loads `load(key)` for each of `keys` in order (a step, or the (step, n) of a multi-step call), `depth`
    ahead of the consumer.

    `close()` stops the thread (a run that ends early, every member diverged, must not leave it blocked on a
    full queue). A load error is raised by `get()` in the training thread, where it is recorded.
    """

    def __init__(self, load, keys: Iterable, depth: int = 2):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(load, keys), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, load, keys):
        for key in keys:
            try:
                item = (key, load(key), None)
            except Exception as e:  # surfaced in the training thread
                self._put((key, None, e))
                return
            if not self._put(item):
                return

    def get(self):
        """(key, batch) of the next key; raises the loader's exception for a key that failed to load."""
        key, batch, error = self._queue.get()
        if error is not None:
            raise error
        return key, batch

    def close(self):
        self._stop.set()
        self._thread.join()
