"""Micro-batching: the inputs of concurrent requests to one model go through one forward pass.

A request hands its planned inputs (n rows of each declared input) to `MicroBatcher.submit` and awaits its images.
The batcher takes the first waiting request, then, when the previous batch had more than one request (the server
has company), keeps collecting for at most `max_wait` seconds or until `max_batch` rows are waiting (a lone client
is not kept waiting: it gets the latency of an unbatched server), concatenates the requests whose inputs have the
same shapes (a translation of a 64x64 and of a 256x256 image cannot share a tensor), and runs the forward in a
worker thread under `torch.inference_mode()` (the sampler's decode), then each request's PNG encoding in the same
thread, so the event loop keeps accepting requests meanwhile. Requests that
arrive while a forward runs wait for the next one: under load, batches fill by themselves. `max_batch=1` turns
batching off (one forward per request), which the load test compares against.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import torch

Tensor = torch.Tensor


@dataclass
class _Pending:
    values: dict[str, Tensor]
    rows: int
    future: asyncio.Future
    finish: Callable[[Tensor], Any] | None = None


def _signature(values: dict[str, Tensor]) -> tuple:
    return tuple((name, tuple(v.shape[1:]), v.dtype) for name, v in values.items())


class MicroBatcher:
    """Batches the forward passes of one model; `forward` maps concatenated inputs to uint8 images."""

    def __init__(self, forward: Callable[[dict[str, Tensor]], Tensor], executor: Executor, max_batch: int = 64,
                 max_wait: float = 0.002, on_batch: Callable[[int], None] | None = None) -> None:
        self.forward = forward
        self.executor = executor
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait)
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self._shared = False  # whether the last batch had company: only then does the next one wait for more

    async def submit(self, values: dict[str, Tensor], finish: Callable[[Tensor], Any] | None = None) -> Any:
        """The images of these inputs, computed in some batch with other requests' inputs; with `finish`, what it
        makes of them (a PNG), run in the worker thread right after the forward: one thread hop per batch, not
        two per request, and no encoding on the event loop."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())
        rows = next(iter(values.values())).shape[0]
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(values, rows, future, finish))
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    async def _collect(self) -> list[_Pending]:
        """The first waiting request and those that join it within max_wait, up to max_batch rows."""
        assert self._queue is not None
        batch = [await self._queue.get()]
        rows = batch[0].rows
        wait = self.max_wait if self._shared else 0.0  # a lone client is not kept waiting for company
        deadline = time.perf_counter() + wait
        while rows < self.max_batch:
            if self._queue.empty():
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            batch.append(item)
            rows += item.rows
        self._shared = len(batch) > 1 or not self._queue.empty()
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            groups: dict[tuple, list[_Pending]] = {}
            for item in batch:
                groups.setdefault(_signature(item.values), []).append(item)
            for items in groups.values():
                live = [item for item in items if not item.future.done()]  # a client that went away is skipped
                if not live:
                    continue
                values = {name: torch.cat([item.values[name] for item in live]) for name in live[0].values}
                try:
                    results = await loop.run_in_executor(self.executor, self._forward, values, live)
                except Exception as exc:  # the requests of this batch fail with the error; the batcher goes on
                    for item in live:
                        if not item.future.done():
                            item.future.set_exception(exc)
                    continue
                for item, result in zip(live, results):
                    if not item.future.done():
                        item.future.set_result(result)

    def _forward(self, values: dict[str, Tensor], items: list[_Pending]) -> list[Any]:
        """In the worker thread: one forward for all items, each item's rows (finished when it asked)."""
        images = self.forward(values)
        if self.on_batch is not None:
            self.on_batch(len(images))
        results, start = [], 0
        for item in items:
            rows = images[start:start + item.rows]
            results.append(item.finish(rows) if item.finish is not None else rows)
            start += item.rows
        return results
