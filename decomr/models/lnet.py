"""LNet: the UV-space network that turns transferred image features into a location map.

Input at the transfer resolution T (64): the concatenation of whichever of these the variant
uses -- transferred features (C + 3 channels: features, pixel x, y, occupancy), the global
feature tiled over the grid (256) -- and always the template's reference location map (3).
Then two 1x1 convolutions to ``channels``, a 3-level hourglass of GroupNorm bottleneck blocks
(``channels`` at T, doubling at each level down to ``8 * channels`` at T/8: 256 -> 2048 at
8 x 8 for the reference configuration), a 3x3 convolution to ``channels / 4``, a bilinear
upsampling (align_corners=True, the texel convention) to the location-map resolution R, and a
3x3 convolution to the 3-channel location map (metres, no activation).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from decomr.models.blocks import GNBottleneck, group_norm


class Hourglass(nn.Module):
    """A recursive hourglass: skip block at this level, max-pool, block to twice the channels,
    the inner hourglass (or a block at the bottom), block back, nearest x2 upsampling, add.

    (B, channels, S, S) float -> (B, channels, S, S) float, S divisible by 2**levels.
    """

    def __init__(self, channels: int, levels: int):
        super().__init__()
        inner = 2 * channels
        self.skip = GNBottleneck(channels, channels)
        self.down = GNBottleneck(channels, inner)
        self.inner = Hourglass(inner, levels - 1) if levels > 1 else GNBottleneck(inner, inner)
        self.up = GNBottleneck(inner, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(y, scale_factor=2.0, mode="nearest")


class LNet(nn.Module):
    """UV-space network -> location map.

    Parameters
    ----------
    in_channels : int
        channels of the concatenated input (see the module docstring).
    channels : int
        width at the transfer resolution (256 in the reference; 64 for small configurations).
    output_resolution : int
        R, the location-map resolution (128 in the reference).
    levels : int
        hourglass depth (3: down to T/8).
    """

    def __init__(self, in_channels: int, channels: int = 256, output_resolution: int = 128, levels: int = 3):
        super().__init__()
        if channels % 4:
            raise ValueError(f"LNet channels must be a multiple of 4, got {channels}")
        self.levels = levels
        self.output_resolution = int(output_resolution)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, bias=False), group_norm(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False), group_norm(channels), nn.ReLU(inplace=True),
        )
        self.hourglass = Hourglass(channels, levels)
        reduced = channels // 4
        self.reduce = nn.Sequential(nn.Conv2d(channels, reduced, 3, padding=1, bias=False), group_norm(reduced), nn.ReLU(inplace=True))
        self.output = nn.Conv2d(reduced, 3, 3, padding=1)
        nn.init.normal_(self.output.weight, std=1e-3)
        nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (B, in_channels, T, T) float, T divisible by 2**levels -> (B, 3, R, R) float location map."""
        size = x.shape[-1]
        if x.ndim != 4 or x.shape[-2] != size or size % (2 ** self.levels):
            raise ValueError(f"LNet input must have shape (B, C, T, T) with T divisible by {2 ** self.levels}, got {tuple(x.shape)}")
        y = self.reduce(self.hourglass(self.stem(x)))
        if size != self.output_resolution:
            y = F.interpolate(y, size=(self.output_resolution,) * 2, mode="bilinear", align_corners=True)
        return self.output(y)
