"""Group concurrent requests into one forward pass.

Requests put their images on a queue and await a future. One worker takes the queue in
batches of at most `max_batch` images. It waits up to `max_wait` seconds for a batch to fill,
but only while requests it has been told about (`expect()`) are still being decoded: a lone
client never waits, and a crowd is grouped. The forward pass runs in one worker thread, so
the event loop keeps accepting (and, beyond `max_queue` queued images, refusing) requests.
A lone request on a cheap network (last forward under `inline_below` seconds) runs on the
loop itself: the hop to the thread would cost more than the forward pass."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import torch


class QueueFull(Exception):
    """More images are waiting than the queue holds: the caller should answer 503."""


@dataclass
class Stats:
    batches: int = 0         # forward passes run
    images: int = 0          # images classified
    largest: int = 0         # most images in one forward pass

    def to_dict(self) -> dict:
        return {"batches": self.batches, "images": self.images, "largest_batch": self.largest}


@dataclass
class _Item:
    images: torch.Tensor                 # uint8 [n, C, H, W]
    future: asyncio.Future
    size: int = field(init=False)

    def __post_init__(self):
        self.size = len(self.images)


class Batcher:
    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], max_batch: int = 32,
                 max_wait: float = 0.01, max_queue: int = 256, inline_below: float = 0.05):
        self.forward, self.max_batch, self.max_wait, self.max_queue = forward, max_batch, max_wait, max_queue
        self.stats, self.inline_below = Stats(), inline_below
        self._per_image = float("inf")           # seconds per image in the last forward pass
        self._alone = threading.Lock()           # held by run_alone and by inline forwards
        self._items: deque[_Item] = deque()
        self._queued = 0          # images on the queue
        self._expected = 0        # requests announced but not yet submitted
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=False)

    @property
    def queued(self) -> int:
        return self._queued

    @contextlib.contextmanager
    def expect(self):
        """Announce a request that will submit soon (while its upload is decoded)."""
        self._expected += 1
        try:
            yield
        finally:
            self._expected -= 1
            self._wake.set()

    async def submit(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [n, C, H, W] -> float [n, K] probabilities, computed with other requests' images."""
        if len(images) > self.max_batch:
            raise ValueError(f"{len(images)} images is more than the batch limit {self.max_batch}")
        if self._queued + len(images) > self.max_queue:
            raise QueueFull(f"{self._queued} images are queued (limit {self.max_queue})")
        item = _Item(images, asyncio.get_running_loop().create_future())
        self._items.append(item)
        self._queued += item.size
        self._wake.set()
        return await item.future

    async def run_alone(self, fn: Callable, *args):
        """Run fn(*args) on the forward thread, between batches (not during one)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._locked, fn, *args)

    def _locked(self, fn: Callable, *args):
        with self._alone:
            return fn(*args)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._fill()
            batch = self._take()
            images = torch.cat([it.images for it in batch])          # [sum n, C, H, W]
            try:
                probs = await self._forward(loop, images, lone=len(batch) == 1)
            except Exception as e:  # a failed forward fails its requests, not the server
                for it in batch:
                    if not it.future.done():
                        it.future.set_exception(e)
                continue
            self._record(len(images))
            for it, part in zip(batch, probs.split([it.size for it in batch])):
                if not it.future.done():          # the client may have gone
                    it.future.set_result(part)

    async def _forward(self, loop, images: torch.Tensor, lone: bool) -> torch.Tensor:
        cheap = self._per_image * len(images) < self.inline_below
        if lone and cheap and not self._items and not self._expected and self._alone.acquire(blocking=False):
            try:
                probs, took = self._timed(images)
            finally:
                self._alone.release()
        else:
            probs, took = await loop.run_in_executor(self._pool, self._timed, images)
        self._per_image = took / len(images)
        return probs

    def _timed(self, images: torch.Tensor) -> tuple[torch.Tensor, float]:
        start = time.perf_counter()
        probs = self.forward(images)
        return probs, time.perf_counter() - start

    async def _fill(self) -> None:
        """Wait for a first item, then up to max_wait while more are known to be coming."""
        while not self._items:
            self._wake.clear()
            await self._wake.wait()
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while self._queued < self.max_batch and self._expected > 0:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                break

    def _take(self) -> list[_Item]:
        batch, n = [], 0
        while self._items and (not batch or n + self._items[0].size <= self.max_batch):
            item = self._items.popleft()
            batch.append(item)
            n += item.size
        self._queued -= n
        return batch

    def _record(self, n: int) -> None:
        self.stats.batches += 1
        self.stats.images += n
        self.stats.largest = max(self.stats.largest, n)
