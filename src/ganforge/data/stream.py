"""Endless shuffled batches from preloaded tensors, with a position that a checkpoint can store and restore.

A stream holds tensors of one length under names ({"image": uint8 images, "label": classes}); every batch takes
the same rows of each, so a batch is a dict with the same keys. The order of epoch e is a permutation drawn from
seed + e, so (epoch, index) is the whole data state: a resumed run sees exactly the batches the uninterrupted run
would have seen. Incomplete final batches are dropped. Under multi-process training each rank takes its own slice
of every global batch, so together the ranks see exactly the batches one process would.
"""

from __future__ import annotations

import torch

from ..errors import GanforgeError


def limit_rows(tensors: dict[str, torch.Tensor], limit: int, dataset: str) -> dict[str, torch.Tensor]:
    """`data.limit` training rows of every tensor, spread evenly over its rows (a class-sorted set keeps every
    class, in proportion); tensors of one length keep the same rows, so images stay with their labels or pairs.
    0 keeps them all."""
    if not limit:
        return tensors
    out = {}
    for key, tensor in tensors.items():
        rows = tensor.shape[0]
        if limit > rows:
            raise GanforgeError(f"data.limit={limit} is more than the {rows} training images of dataset "
                                f"'{dataset}'; set data.limit<={rows}, or 0 for all of them")
        out[key] = tensor[torch.linspace(0, rows - 1, limit).round().long().to(tensor.device)]
    return out


class BatchStream:
    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1) -> None:
        self.tensors = dict(tensors)
        self.groups = (tuple(self.tensors),)
        size = next(iter(self.tensors.values())).shape[0]
        if size < batch_size:
            raise GanforgeError(f"the dataset has {size} images, fewer than train.batch_size={batch_size}; lower "
                                f"the batch size")
        self.size = size
        self.device = next(iter(self.tensors.values())).device
        self.batch_size = batch_size
        self.rank_slice = slice(rank * batch_size // world_size, (rank + 1) * batch_size // world_size)
        self.seed = seed
        self.epoch = 0
        self.index = 0
        self._order: torch.Tensor | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.size // self.batch_size

    def _permutation(self) -> torch.Tensor:
        if self._order is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._order = torch.randperm(self.size, generator=generator).to(self.device)
        return self._order

    def next(self) -> dict[str, torch.Tensor]:
        """The next batch (this rank's slice of it): every tensor's rows of it, on their device."""
        indices = self._next_indices()
        return {key: tensor[indices] for key, tensor in self.tensors.items()}

    def _next_indices(self) -> torch.Tensor:
        if self.index >= self.batches_per_epoch:
            self.epoch += 1
            self.index = 0
            self._order = None
        start = self.index * self.batch_size
        self.index += 1
        return self._permutation()[start:start + self.batch_size][self.rank_slice]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.index, self.seed = int(state["epoch"]), int(state["index"]), int(state["seed"])
        self._order = None


class GroupedStream:
    """Several streams in step, one per group of keys that share rows (unpaired domains: ("A",) and ("B",)).

    Each group has its own order (group 0 that of a plain BatchStream with the same seed), so every batch holds one
    batch of each; an epoch is one pass over the largest group, as CycleGAN's data loader counts it.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], groups: tuple[tuple[str, ...], ...], batch_size: int,
                 seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.groups = groups
        self.streams = [BatchStream({key: tensors[key] for key in group}, batch_size, seed + 7919 * i, rank,
                                    world_size) for i, group in enumerate(groups)]
        self.largest = max(self.streams, key=lambda stream: stream.size)

    @property
    def epoch(self) -> int:
        return self.largest.epoch

    @property
    def batches_per_epoch(self) -> int:
        return self.largest.batches_per_epoch

    def next(self) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for stream in self.streams:
            batch.update(stream.next())
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"groups": [stream.state_dict() for stream in self.streams]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        for stream, own in zip(self.streams, state["groups"], strict=True):
            stream.load_state_dict(own)


def make_stream(tensors: dict[str, torch.Tensor], groups: tuple[tuple[str, ...], ...], batch_size: int, seed: int,
                rank: int = 0, world_size: int = 1) -> BatchStream | GroupedStream:
    """One BatchStream when every key shares its rows (images and labels, pairs), a GroupedStream otherwise."""
    groups = tuple(tuple(key for key in group if key in tensors) for group in groups)
    groups = tuple(group for group in groups if group)
    if len(groups) == 1:
        return BatchStream(tensors, batch_size, seed, rank, world_size)
    return GroupedStream(tensors, groups, batch_size, seed, rank, world_size)
