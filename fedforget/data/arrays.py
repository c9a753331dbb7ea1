"""The one in-memory dataset type: :class:`ArrayData`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedforget.util.errors import DataError


@dataclass(frozen=True)
class ArrayData:
    x: np.ndarray  # float32, (n, C, H, W) for images or (n, F) for vectors
    y: np.ndarray  # int64, (n,)
    ids: np.ndarray  # int64, (n,), global sample ids
    num_classes: int

    def __post_init__(self) -> None:
        if not (len(self.x) == len(self.y) == len(self.ids)):
            raise DataError(
                f"features, labels and ids differ in length ({len(self.x)}, {len(self.y)}, {len(self.ids)})"
            )

    def __len__(self) -> int:
        return len(self.y)

    def take(self, mask_or_idx: np.ndarray) -> ArrayData:
        return ArrayData(self.x[mask_or_idx], self.y[mask_or_idx], self.ids[mask_or_idx], self.num_classes)

    def select_ids(self, ids: np.ndarray) -> ArrayData:
        return self.take(np.isin(self.ids, ids))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])
