"""Endless shuffled batches from a preloaded tensor, with a position that a checkpoint can store and restore.

The order of epoch e is a permutation drawn from seed + e, so (epoch, index) is the whole data state: a resumed run
sees exactly the batches the uninterrupted run would have seen. Incomplete final batches are dropped. Under
multi-process training each rank takes its own slice of every global batch, so together the ranks see exactly the
batches one process would.
"""

from __future__ import annotations

import torch

from ..errors import GanforgeError


class BatchStream:
    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, labels: torch.Tensor | None = None,
                 rank: int = 0, world_size: int = 1) -> None:
        if images.shape[0] < batch_size:
            raise GanforgeError(f"the dataset has {images.shape[0]} images, fewer than train.batch_size="
                                f"{batch_size}; lower the batch size")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.rank_slice = slice(rank * batch_size // world_size, (rank + 1) * batch_size // world_size)
        self.seed = seed
        self.epoch = 0
        self.index = 0
        self._order: torch.Tensor | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.images.shape[0] // self.batch_size

    def _permutation(self) -> torch.Tensor:
        if self._order is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._order = torch.randperm(self.images.shape[0], generator=generator).to(self.images.device)
        return self._order

    def next(self) -> torch.Tensor:
        """The next uint8 batch (this rank's slice of it), on the images' device."""
        return self.images[self._next_indices()]

    def next_with_labels(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        indices = self._next_indices()
        return self.images[indices], None if self.labels is None else self.labels[indices]

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
