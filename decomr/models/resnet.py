"""ResNet-18/34/50 with torchvision's parameter names, so an ImageNet checkpoint saved by
torchvision loads by name with :func:`load_backbone_weights` (nothing is ever downloaded).

Names follow torchvision: ``conv1``, ``bn1``, ``layer1`` .. ``layer4`` made of ``BasicBlock``
(``conv1 bn1 conv2 bn2``) or ``Bottleneck`` (``conv1 bn1 conv2 bn2 conv3 bn3``) blocks with an
optional ``downsample.0`` (1x1 conv) / ``downsample.1`` (BatchNorm), and ``fc``. The
bottleneck strides in its 3x3 convolution (torchvision's "ResNet v1.5").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from uvkit.errors import check_choice

#: depth -> (block kind, blocks per stage)
RESNET_CONFIGS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}
BACKBONES: tuple[str, ...] = tuple(RESNET_CONFIGS)


def check_backbone(name: str) -> str:
    """Return ``name`` if it is a known backbone, else raise ``ValueError`` listing the choices."""
    return check_choice(name, BACKBONES, "backbone", ValueError)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 (x4 channels) with BatchNorm and a shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = _conv1x1(in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = _conv1x1(channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


@dataclass
class ResNetFeatures:
    """Encoder features of an input of H x W pixels (H, W multiples of 32).

    Attributes
    ----------
    stem : (B, 64, H/2, W/2) float tensor
    layer1 : (B, C1, H/4, W/4) float tensor (C1 = 64 for ResNet-18/34, 256 for ResNet-50)
    layer2 : (B, 2 C1, H/8, W/8) float tensor
    layer3 : (B, 4 C1, H/16, W/16) float tensor
    layer4 : (B, 8 C1, H/32, W/32) float tensor
    pooled : (B, 8 C1) float tensor, the global average of ``layer4``
    """

    stem: torch.Tensor
    layer1: torch.Tensor
    layer2: torch.Tensor
    layer3: torch.Tensor
    layer4: torch.Tensor
    pooled: torch.Tensor


class ResNet(nn.Module):
    """ResNet encoder with torchvision parameter names.

    Parameters
    ----------
    name : str
        one of :data:`BACKBONES`.
    num_classes : int or None
        with a number, an ``fc`` classifier is kept (as in torchvision; ``forward`` then still
        returns features, ``classify`` the logits); with None (default) there is no ``fc``.
    """

    def __init__(self, name: str = "resnet50", num_classes: int | None = None):
        super().__init__()
        self.name = check_backbone(name)
        kind, counts = RESNET_CONFIGS[name]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        for index, (channels, count) in enumerate(zip((64, 128, 256, 512), counts)):
            stride = 1 if index == 0 else 2
            layer, in_channels = self._make_layer(block, in_channels, channels, count, stride)
            self.add_module(f"layer{index + 1}", layer)
        #: output channels of stem, layer1 .. layer4
        self.channels: tuple[int, ...] = (64,) + tuple(c * block.expansion for c in (64, 128, 256, 512))
        self.fc = None if num_classes is None else nn.Linear(self.channels[-1], num_classes)
        self._initialise()

    @staticmethod
    def _make_layer(block, in_channels: int, channels: int, count: int, stride: int):
        out_channels = channels * block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(_conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        blocks = [block(in_channels, channels, stride, downsample)]
        blocks += [block(out_channels, channels) for _ in range(count - 1)]
        return nn.Sequential(*blocks), out_channels

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # Start every residual branch near zero so the untrained network is well conditioned.
        for module in self.modules():
            if isinstance(module, Bottleneck):
                nn.init.zeros_(module.bn3.weight)
            elif isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, image: torch.Tensor) -> ResNetFeatures:
        """image : (B, 3, H, W) float tensor, H and W multiples of 32 -> :class:`ResNetFeatures`."""
        if image.ndim != 4 or image.shape[1] != 3 or image.shape[2] % 32 or image.shape[3] % 32:
            raise ValueError(f"image must have shape (B, 3, H, W) with H and W multiples of 32, got {tuple(image.shape)}")
        stem = self.relu(self.bn1(self.conv1(image)))
        layer1 = self.layer1(self.maxpool(stem))
        layer2 = self.layer2(layer1)
        layer3 = self.layer3(layer2)
        layer4 = self.layer4(layer3)
        pooled = layer4.mean(dim=(2, 3))
        return ResNetFeatures(stem, layer1, layer2, layer3, layer4, pooled)

    def classify(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float -> (B, num_classes) logits (needs ``num_classes``)."""
        if self.fc is None:
            raise RuntimeError("this ResNet was built without a classifier (num_classes=None)")
        return self.fc(self.forward(image).pooled)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` (no code runs on load).

    Accepts a plain state_dict or one nested under ``"state_dict"`` or ``"model"``; a
    ``"module."`` prefix (DataParallel) is removed.
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state_dict (a dict of parameter name -> tensor)")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_backbone_weights(resnet: ResNet, path: str | Path) -> None:
    """Load a torchvision-format ImageNet checkpoint into ``resnet`` by parameter name.

    The classifier (``fc.*``) is ignored when ``resnet`` has none, and a BatchNorm
    ``num_batches_tracked`` absent from older checkpoints keeps its value. Any other missing or
    unexpected key, or a shape that differs, raises ``ValueError`` naming them (for example a
    ResNet-50 checkpoint given to a ResNet-18 backbone).
    """
    state = read_state_dict(path)
    own = resnet.state_dict()
    if resnet.fc is None:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    # Older torchvision checkpoints predate BatchNorm's step counter: keep the model's own.
    for key in own:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = own[key]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        def head(items):
            return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys: {head(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys: {head(unexpected)}")
        if wrong:
            problems.append(f"{len(wrong)} shape mismatches: {head(wrong)}")
        raise ValueError(f"{path} does not fit a {resnet.name} backbone: " + "; ".join(problems))
    resnet.load_state_dict(state, strict=True)
