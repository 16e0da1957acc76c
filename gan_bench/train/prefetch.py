"""The input pipeline of a run: the next steps' real batches, loaded and transferred in a thread.

A batch is a pure function of (seed, step) (`engine.real_batches`), so loading ahead changes no number; it
only keeps the device from waiting on the host while it could be stepping.
"""
import queue
import threading


class Prefetcher:
    """Loads `load(step)` for steps `start..stop-1` in order, `depth` ahead of the consumer.

    `close()` stops the thread (a run that ends early, every member diverged, must not leave it blocked on a
    full queue). A load error is raised by `get()` in the training thread, where it is recorded.
    """

    def __init__(self, load, start: int, stop: int, depth: int = 2):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(load, start, stop), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, load, start, stop):
        for step in range(start, stop):
            try:
                item = (step, load(step), None)
            except Exception as e:  # surfaced in the training thread
                self._put((step, None, e))
                return
            if not self._put(item):
                return

    def get(self):
        """(step, batch) of the next step; raises the loader's exception for a step that failed to load."""
        step, batch, error = self._queue.get()
        if error is not None:
            raise error
        return step, batch

    def close(self):
        self._stop.set()
        self._thread.join()
