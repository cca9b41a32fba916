"""A background thread that loads items in a fixed order a few steps ahead."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Prefetcher"]


class Prefetcher:
    """Loads ``order`` with ``load`` in a background thread, ``depth`` items ahead."""

    _DONE = object()

    def __init__(self, load: Callable[[int], np.ndarray], order: Sequence[int], depth: int) -> None:
        self.load = load
        self.order = [int(i) for i in order]
        self.depth = int(depth)
        self.pos = 0
        self.thread: threading.Thread | None = None
        if self.depth > 0 and self.order:
            self.queue: queue.Queue[Any] = queue.Queue(maxsize=self.depth)
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._run, name="coxmt-unlabeled", daemon=True)
            self.thread.start()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        for i in self.order:
            if self.stop.is_set():
                return
            try:
                item: Any = self.load(i)
            except BaseException as exc:  # handed to the consumer
                self._put(exc)
                return
            if not self._put(item):
                return
        self._put(self._DONE)

    def next(self) -> np.ndarray:
        if self.thread is None:
            item = self.load(self.order[self.pos])
            self.pos += 1
            return item
        item = self.queue.get()
        if isinstance(item, BaseException):
            self.close()
            raise item
        if item is self._DONE:  # pragma: no cover - the consumer never asks past the end
            raise StopIteration
        return item

    def close(self) -> None:
        if self.thread is None:
            return
        self.stop.set()
        while True:  # unblock a reader waiting on a full queue
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.thread.join()
        self.thread = None
