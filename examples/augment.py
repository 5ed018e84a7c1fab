"""Train-only transforms for the torch examples: `transform: examples.augment:NAME` in a config.

Each NAME is a factory ``NAME(params) -> transform | None``: the trainer calls it once per trial
with the trial's params, so the augmentation's strength is a hyperparameter like any other, and
applies the transform to every training batch (never to validation or test rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: the one-pixel moves (dy, dx), diagonals included; a row drawn to move always moves
_MOVES = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def digits_augment(params: dict[str, Any]) -> Callable[[Any], Any] | None:
    """Random one-pixel shifts and Gaussian noise for scikit-learn's 8x8 digits, on raw pixels.

    The batch is rows of 64 raw pixel intensities (0 to 16, the config's ``standardize: false``),
    as the trainer feeds ``examples.models:cnn``; they are seen as (N, 1, 8, 8) images inside and
    returned as (N, 64), on the batch's device, with the rows and labels unchanged.

    Params:
        noise: Standard deviation of Gaussian noise added to every pixel, as a fraction of the
            batch's pixel deviation (about 6 intensity levels on digits; 0 to 0.5 is sensible;
            0 or absent: none).
        shift: Probability that an image moves by one pixel in one of the 8 directions,
            diagonals included (a bool: ``true`` is 0.5; 0, ``false`` or absent: none). The row
            or column that moves in is blank (0, the background).

    Returns:
        ``transform(x) -> x``, or ``None`` when both are off (the trainer then skips it).

    Raises:
        ValueError: A param out of range; or, on the first batch, negative pixels (standardized
            rows: see below).

    Why no flips: a digit's mirror image is another digit or none (a flipped 2 looks like a 5,
    a flipped 3 or 7 is no digit), so a flip keeps the label while changing what the image shows;
    so do rotations of 90 or 180 degrees (6 and 9). A one-pixel shift and mild noise keep the
    digit what it is: the images are 8x8 thumbnails of centred, size-normalized bitmaps, and a
    pixel of offset is within the variation of the handwriting itself.

    Why raw pixels: standardized rows hold each pixel's z-score against its own position's mean
    and deviation (5 to 6 levels in the middle, under 1 at the edges), so a one-pixel move of
    standardized values is not the moved image: on digits it is off by 0.6 deviations on average
    in the inner 6x6 pixels, about as much as the pixels vary. Trained on (15 epochs, 30% of the
    rows validating, mean of 3 seeds), such a move did not help (0.9870 against 0.9895 without),
    while the same move of raw pixels did (0.9932 against 0.9864). The transform sees only the
    batch, not the scaling, so the config feeds raw pixels; the CNN's BatchNorm after its first
    convolution scales them.
    """
    noise = float(params.get("noise", 0.0) or 0.0)
    shift = params.get("shift", 0.0)
    shift = 0.5 if shift is True else float(shift or 0.0)
    if not (0.0 <= noise and 0.0 <= shift <= 1.0):
        raise ValueError(f"digits_augment: expected noise >= 0 and shift in [0, 1], got {noise!r}, {shift!r}")
    if noise == 0.0 and shift == 0.0:
        return None
    checked, tables = False, {}

    def transform(x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        nonlocal checked
        if not checked:  # once: a check reads the batch back from the device
            if bool((x < 0).any()):
                raise ValueError(
                    "digits_augment moves raw pixels (0 to 16) and got negative ones: standardized rows? "
                    "set standardize: false"
                )
            checked = True
        n, device = len(x), x.device
        images = x.reshape(n, 1, 8, 8)
        if shift > 0.0:
            if device not in tables:  # copied to the device once, not per batch
                tables[device] = torch.tensor(_MOVES, device=device)
            moves = tables[device][torch.randint(len(_MOVES), (n,), device=device)]
            moves = moves * (torch.rand(n, 1, device=device) < shift)  # (N, 2): (dy, dx); unmoved: (0, 0)
            padded = F.pad(images, (1, 1, 1, 1))  # (N, 1, 10, 10), a blank border
            grid = torch.arange(8, device=device) + 1
            rows = (grid - moves[:, :1]).unsqueeze(2)  # (N, 8, 1): pixel (i, j) <- (i - dy, j - dx)
            cols = (grid - moves[:, 1:]).unsqueeze(1)  # (N, 1, 8)
            images = padded[torch.arange(n, device=device).view(n, 1, 1), 0, rows, cols].unsqueeze(1)
        if noise > 0.0:
            images = images + (noise * x.std()) * torch.randn_like(images)
        return images.reshape(n, 64)

    transform.__qualname__ = f"digits_augment(noise={noise:g}, shift={shift:g})"
    return transform
