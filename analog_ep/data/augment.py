"""Training-time augmentation of image batches (channels first), vectorized over the batch."""

from __future__ import annotations

import torch


def augment(x: torch.Tensor, ops: list[str], generator: torch.Generator, crop_padding: int = 4) -> torch.Tensor:
    """Apply ``ops`` in order: ``flip`` mirrors each image horizontally with probability 1/2;
    ``crop`` zero-pads by ``crop_padding`` and takes a random crop of the original size (one
    offset per image). Inputs that are not images (fewer than 3 dims per example) pass through."""
    if not ops or x.dim() != 4:
        return x
    b, _, h, w = x.shape
    for op in ops:
        if op == "flip":
            mask = torch.rand(b, generator=generator) < 0.5
            x = torch.where(mask.view(b, 1, 1, 1), x.flip(3), x)
        elif op == "crop" and crop_padding > 0:
            p = crop_padding
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            rows = (dy.view(b, 1) + torch.arange(h).view(1, h))  # (b, h)
            cols = (dx.view(b, 1) + torch.arange(w).view(1, w))  # (b, w)
            idx_b = torch.arange(b).view(b, 1, 1)
            x = padded.permute(0, 2, 3, 1)[idx_b, rows.view(b, h, 1), cols.view(b, 1, w)].permute(0, 3, 1, 2)
            x = x.contiguous()
    return x
