"""Building blocks shared by CNet's decoder and LNet: the GroupNorm bottleneck block."""
from __future__ import annotations

import torch
from torch import nn

#: GroupNorm uses groups of this many channels (FACTS: 8 channels per group).
CHANNELS_PER_GROUP = 8


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with :data:`CHANNELS_PER_GROUP` channels per group (one group if fewer)."""
    return nn.GroupNorm(max(1, channels // CHANNELS_PER_GROUP), channels)


class GNBottleneck(nn.Module):
    """1x1 (out/2) -> 3x3 (out/2) -> 1x1 (out), each with GroupNorm and ReLU, plus a residual
    (identity, or a 1x1 convolution when ``in_channels != out_channels``).

    (B, in_channels, H, W) float -> (B, out_channels, H, W) float.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = max(1, out_channels // 2)
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, mid, 1, bias=False), group_norm(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False), group_norm(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 1, bias=False), group_norm(out_channels), nn.ReLU(inplace=True),
        )
        self.shortcut = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) + self.shortcut(x)
