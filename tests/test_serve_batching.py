"""The Batcher on its own (no HTTP): grouping, limits, errors, and exclusive runs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch

from convnet.serve.batching import Batcher, QueueFull


class Recorder:
    """A forward pass that records the batch sizes it saw; probabilities = pixel sums, so
    each answer can be traced back to its own request."""

    def __init__(self, delay: float = 0.0):
        self.sizes, self.delay, self.threads = [], delay, set()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(images))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return images.float().sum(dim=(1, 2, 3)).unsqueeze(1)          # [n, 1]


def images(value: int, n: int = 1) -> torch.Tensor:
    return torch.full((n, 1, 2, 2), value, dtype=torch.uint8)


async def with_batcher(forward, body, **kw):
    b = Batcher(forward, **kw)
    await b.start()
    try:
        return await body(b)
    finally:
        await b.stop()


def test_concurrent_requests_are_grouped_and_answered_in_order():
    rec = Recorder(delay=0.05)

    async def body(b):
        first = asyncio.create_task(b.submit(images(1)))       # occupies the forward pass
        await asyncio.sleep(0.01)
        rest = [asyncio.create_task(b.submit(images(v, 2))) for v in range(2, 12)]
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(with_batcher(rec, body, max_batch=8, max_wait=0.0))
    assert first.tolist() == [[4.0]]
    assert [r.tolist() for r in rest] == [[[4.0 * v]] * 2 for v in range(2, 12)]
    assert rec.sizes[0] == 1 and max(rec.sizes) == 8 and sum(rec.sizes) == 21   # 10 requests x 2 -> 8, 8, 4


def test_announced_requests_are_waited_for_and_a_lone_one_is_not():
    rec = Recorder()

    async def body(b):
        t = time.perf_counter()
        await b.submit(images(1))
        lone = time.perf_counter() - t
        with b.expect():                       # a request still decoding its upload
            task = asyncio.create_task(b.submit(images(2)))
            await asyncio.sleep(0.05)
            other = asyncio.create_task(b.submit(images(3)))
        await asyncio.gather(task, other)
        return lone

    lone = asyncio.run(with_batcher(rec, body, max_batch=8, max_wait=1.0))
    assert lone < 0.5                          # did not sit out max_wait
    assert rec.sizes == [1, 2]                 # the second forward waited for the announced one


def test_queue_limit_and_batch_limit():
    rec = Recorder(delay=0.2)

    async def body(b):
        running = asyncio.create_task(b.submit(images(1)))
        await asyncio.sleep(0.05)              # now in the forward pass; the queue is empty
        queued = asyncio.create_task(b.submit(images(2, 3)))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await b.submit(images(3))          # 3 queued + 1 > max_queue 3
        with pytest.raises(ValueError):
            await b.submit(images(4, 5))       # more than max_batch in one request
        return await running, await queued

    asyncio.run(with_batcher(rec, body, max_batch=4, max_queue=3, max_wait=0.0))
    assert rec.sizes == [1, 3]


def test_a_failing_forward_fails_its_requests_not_the_batcher():
    calls = []

    def forward(x):
        calls.append(len(x))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return x.float().sum(dim=(1, 2, 3)).unsqueeze(1)

    async def body(b):
        with pytest.raises(RuntimeError, match="boom"):
            await b.submit(images(1))
        return await b.submit(images(2))

    assert asyncio.run(with_batcher(forward, body)).tolist() == [[8.0]]


def test_cheap_lone_requests_run_inline_and_costly_ones_on_the_thread():
    cheap, costly = Recorder(), Recorder(delay=0.01)

    async def body(b):
        for v in range(4):
            await b.submit(images(v))

    asyncio.run(with_batcher(cheap, body, inline_below=0.005))
    asyncio.run(with_batcher(costly, body, inline_below=0.005))
    assert threading.main_thread().name in cheap.threads          # after the first measurement
    assert costly.threads == {n for n in costly.threads if n.startswith("forward")}


def test_run_alone_never_overlaps_a_forward_pass():
    active, overlaps = [0], []

    def forward(x):
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.001)
        active[0] -= 1
        return x.float().sum(dim=(1, 2, 3)).unsqueeze(1)

    async def body(b):
        jobs = [b.submit(images(v)) for v in range(20)] + [b.run_alone(forward, images(9)) for _ in range(20)]
        await asyncio.gather(*jobs)

    asyncio.run(with_batcher(forward, body, inline_below=1.0))
    assert max(overlaps) == 1
