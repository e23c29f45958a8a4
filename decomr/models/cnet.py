"""CNet: the image-space network (ResNet encoder + GroupNorm decoder) -> IUV image, local
feature map, global feature and weak-perspective camera.

Sizes at a 224 x 224 input with ResNet-50 (FACTS section 1): encoder features at
112/56/28/14/7 px with 64/256/512/1024/2048 channels; the decoder goes
2048@7 -> 1024@14 -> 512@28 -> 256@56; the IUV image and the local feature map are at 56 px.
ResNet-18/34 have 64/64/128/256/512 channels, so their decoder goes 512@7 -> 256@14 ->
128@28 -> 64@56 and their local feature map has 64 channels (the channel count of the
encoder's 56 px stage, i.e. a quarter of ResNet-50's everywhere in the decoder).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from decomr.models.blocks import GNBottleneck, group_norm
from decomr.models.resnet import ResNet, check_backbone, load_backbone_weights

#: channels of the global feature (FC pooled -> 512 -> BN -> ReLU -> 256).
GLOBAL_CHANNELS = 256
#: initial camera (s, tx, ty): a body about 2 m tall roughly fills the [-1, 1] crop.
INITIAL_CAMERA = (0.9, 0.0, 0.0)


@dataclass
class CNetOutput:
    """What CNet predicts for a (B, 3, H, W) image (H, W multiples of 32; h = H/4, w = W/4).

    Attributes
    ----------
    iuv : (B, 3, h, w) float tensor
        channel 0 foreground probability, channels 1-2 (u, v) in [0, 1] (sigmoids).
    mask_logits : (B, 1, h, w) float tensor
        the logit of channel 0 of ``iuv`` (for a numerically safe BCE).
    local_features : (B, C, h, w) float tensor
        C = 256 for ResNet-50, 64 for ResNet-18/34 (:attr:`CNet.local_channels`).
    global_feature : (B, 256) float tensor
    camera : (B, 3) float tensor
        weak-perspective (s, tx, ty): ``x_2d = s * (X_xy + t)`` in crop coordinates in [-1, 1].
    """

    iuv: torch.Tensor
    mask_logits: torch.Tensor
    local_features: torch.Tensor
    global_feature: torch.Tensor
    camera: torch.Tensor


class CNet(nn.Module):
    """ResNet encoder + GroupNorm decoder + IUV, global-feature and camera heads.

    Parameters
    ----------
    backbone : str
        ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
    backbone_weights : str or Path, optional
        a local torchvision-format ImageNet checkpoint loaded into the encoder by name.

    The global head holds a BatchNorm1d (as in the reference): in training mode a batch needs
    at least 2 images; evaluation mode takes any batch.
    """

    def __init__(self, backbone: str = "resnet50", backbone_weights=None):
        super().__init__()
        check_backbone(backbone)
        self.encoder = ResNet(backbone)
        if backbone_weights is not None:
            load_backbone_weights(self.encoder, backbone_weights)
        _, c1, c2, c3, c4 = self.encoder.channels
        # three times: nearest x2 -> bottleneck block -> add the encoder skip
        self.decoder = nn.ModuleList([GNBottleneck(c4, c3), GNBottleneck(c3, c2), GNBottleneck(c2, c1)])
        self.local_channels = c1
        hidden = max(8, c1 // 2)

        def branch(out_channels: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c1, hidden, 3, padding=1, bias=False), group_norm(hidden), nn.ReLU(inplace=True),
                nn.Conv2d(hidden, out_channels, 1),
            )

        self.mask_head = branch(1)
        self.uv_head = branch(2)
        self.global_head = nn.Sequential(
            nn.Linear(c4, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, GLOBAL_CHANNELS),
        )
        self.camera_head = nn.Linear(c4, 3)
        nn.init.normal_(self.camera_head.weight, std=1e-3)
        with torch.no_grad():
            self.camera_head.bias.copy_(torch.tensor(INITIAL_CAMERA))

    def forward(self, image: torch.Tensor) -> CNetOutput:
        """image : (B, 3, H, W) float tensor (ImageNet-normalised; H, W multiples of 32)."""
        features = self.encoder(image)
        x = features.layer4
        for block, skip in zip(self.decoder, (features.layer3, features.layer2, features.layer1)):
            x = block(F.interpolate(x, scale_factor=2.0, mode="nearest")) + skip
        mask_logits = self.mask_head(x)
        iuv = torch.cat([torch.sigmoid(mask_logits), torch.sigmoid(self.uv_head(x))], dim=1)
        return CNetOutput(
            iuv=iuv,
            mask_logits=mask_logits,
            local_features=x,
            global_feature=self.global_head(features.pooled),
            camera=self.camera_head(features.pooled),
        )
