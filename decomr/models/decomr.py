"""The full DecoMR model: CNet -> transfer to UV space -> LNet -> location map -> mesh."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from decomr.models.cnet import GLOBAL_CHANNELS, CNet
from decomr.models.lnet import LNet
from decomr.models.resnet import check_backbone
from uvkit.errors import check_choice

#: what LNet sees, per variant (the paper's ablation):
#: ``global`` the global feature and the reference location map only; ``local`` the transferred
#: local features and the reference map; ``global+local`` all three (the method);
#: ``raw-pixels`` the image pixels transferred instead of features, plus the global feature and
#: the reference map.
VARIANTS: tuple[str, ...] = ("global", "local", "global+local", "raw-pixels")
#: initialisations of LNet's weights on the global feature (DecoMR's ``global_init``).
GLOBAL_INITS: tuple[str, ...] = ("default", "zero")
#: LNet width at the transfer resolution when ``lnet_channels`` is not given.
DEFAULT_LNET_CHANNELS: dict[str, int] = {"resnet18": 64, "resnet34": 64, "resnet50": 256}


def check_variant(name: str) -> str:
    """Return ``name`` if it is a known variant, else raise ``ValueError`` listing the choices."""
    return check_choice(name, VARIANTS, "variant", ValueError)


@dataclass
class DecoMROutput:
    """Predictions for a batch of B images of H x W pixels (h = H/4, w = W/4).

    Attributes
    ----------
    iuv : (B, 3, h, w) float tensor
        foreground probability, U, V (sigmoids; 56 x 56 at a 224 px input).
    mask_logits : (B, 1, h, w) float tensor
        logit of ``iuv[:, 0]``.
    camera : (B, 3) float tensor
        weak-perspective (s, tx, ty).
    global_feature : (B, 256) float tensor
    local_features : (B, C, h, w) float tensor
    uv_features : (B, C' + 3, T, T) float tensor or None
        what was transferred to UV space (C' = C features, or 3 image channels for
        ``raw-pixels``; then pixel x, y and occupancy); None for the ``global`` variant.
    location_map : (B, 3, R, R) float tensor
        metres, in the same axes as the training meshes.
    vertices : (B, V, 3) float tensor
        read from ``location_map`` by ``uv_lookup.vertices``.
    """

    iuv: torch.Tensor
    mask_logits: torch.Tensor
    camera: torch.Tensor
    global_feature: torch.Tensor
    local_features: torch.Tensor
    uv_features: torch.Tensor | None
    location_map: torch.Tensor
    vertices: torch.Tensor


class DecoMR(nn.Module):
    """DecoMR (CVPR 2020): image -> IUV, camera, location map and mesh.

    Parameters
    ----------
    uv_lookup : decomr.uv.UVLookup
        the UV map (with its template): gives the transfer, the reference location map and the
        location map -> mesh read-out. Kept as a submodule, so its tables follow ``.to()``.
    variant : str
        one of :data:`VARIANTS` (default ``"global+local"``).
    backbone : str
        ``"resnet18"``, ``"resnet34"`` or ``"resnet50"`` (default).
    backbone_weights : str or Path, optional
        a local torchvision-format ImageNet checkpoint for the encoder (read with
        ``torch.load(weights_only=True)``; never downloaded).
    lnet_channels : int, optional
        LNet width at the transfer resolution (default :data:`DEFAULT_LNET_CHANNELS`: 256 for
        ResNet-50 as in the reference, giving 2048 channels at 8 x 8; 64 for ResNet-18/34).
    transfer_resolution : int
        T, the UV grid the features are transferred to (64), divisible by 8.
    location_resolution : int, optional
        R, the location-map resolution (default ``uv_lookup.resolution``, 128 normally).
    global_init : str
        the initial weights of LNet's first convolution on the tiled global feature:
        ``default`` (PyTorch's, like every other input) or ``zero`` (LNet starts from the local
        features alone and takes in the global feature as training finds it useful; see
        :meth:`lnet_input_blocks`).

    Input images are (B, 3, H, W) float tensors, ImageNet-normalised, H and W multiples of 32
    (224 in the reference). The CNet alone (stage 1 of training) is ``model.cnet``.
    """

    def __init__(self, uv_lookup: nn.Module, variant: str = "global+local", backbone: str = "resnet50",
                 backbone_weights=None, lnet_channels: int | None = None, transfer_resolution: int = 64,
                 location_resolution: int | None = None, global_init: str = "default"):
        super().__init__()
        self.variant = check_variant(variant)
        self.backbone = check_backbone(backbone)
        transfer_resolution = int(transfer_resolution)
        if transfer_resolution < 8 or transfer_resolution % 8:
            raise ValueError(f"transfer_resolution must be a positive multiple of 8, got {transfer_resolution}")
        self.transfer_resolution = transfer_resolution
        self.uv_lookup = uv_lookup
        self.cnet = CNet(backbone, backbone_weights)
        reference = self._reference_map(uv_lookup, transfer_resolution)
        self.register_buffer("reference_map", reference, persistent=False)
        if location_resolution is None:
            location_resolution = int(getattr(uv_lookup, "resolution", 0) or uv_lookup.reference_location_map().shape[-1])
        self.location_resolution = int(location_resolution)
        self.uses_global = variant in ("global", "global+local", "raw-pixels")
        self.transferred_channels = {"global": 0, "local": self.cnet.local_channels + 3,
                                     "global+local": self.cnet.local_channels + 3, "raw-pixels": 3 + 3}[variant]
        in_channels = self.transferred_channels + (GLOBAL_CHANNELS if self.uses_global else 0) + 3
        channels = DEFAULT_LNET_CHANNELS[backbone] if lnet_channels is None else int(lnet_channels)
        self.lnet = LNet(in_channels, channels, self.location_resolution)
        if global_init not in GLOBAL_INITS:
            raise ValueError(f"global_init must be one of {GLOBAL_INITS}, got {global_init!r}")
        if global_init == "zero" and self.uses_global:
            with torch.no_grad():
                self.lnet.stem[0].weight[:, self.lnet_input_blocks()["global feature"]] = 0.0
        # added to LNet's output; training starts it at the mean ground-truth location map of the
        # training data, so an untrained network predicts the mean body, not a shrunken one
        self.register_buffer("location_offset", torch.zeros(1, 3, self.location_resolution, self.location_resolution))

    def lnet_input_blocks(self) -> dict[str, slice]:
        """The blocks of LNet's input channels, in the order :meth:`forward` concatenates them:
        ``local features`` (or ``pixels`` for ``raw-pixels``) and ``pixel x, y, occupancy``
        (the transfer's), ``global feature`` (tiled), ``reference map``; only those the
        variant has."""
        blocks, start = {}, 0
        if self.transferred_channels:
            name = "pixels" if self.variant == "raw-pixels" else "local features"
            blocks[name] = slice(0, self.transferred_channels - 3)
            blocks["pixel x, y, occupancy"] = slice(self.transferred_channels - 3, self.transferred_channels)
            start = self.transferred_channels
        if self.uses_global:
            blocks["global feature"] = slice(start, start + GLOBAL_CHANNELS)
            start += GLOBAL_CHANNELS
        blocks["reference map"] = slice(start, start + 3)
        return blocks

    def set_location_offset(self, location_map: torch.Tensor) -> None:
        """Set the offset added to LNet's output: a (3, R, R) or (1, 3, R, R) location map."""
        location_map = torch.as_tensor(location_map)
        expected = tuple(self.location_offset.shape)
        if tuple(location_map.shape) not in (expected, expected[1:]):
            raise ValueError(f"the location offset must have shape {expected[1:]} or {expected}, "
                             f"got {tuple(location_map.shape)}")
        with torch.no_grad():
            self.location_offset.copy_(location_map.reshape(expected).to(self.location_offset))

    @staticmethod
    def _reference_map(uv_lookup: nn.Module, resolution: int) -> torch.Tensor:
        """(1, 3, T, T) float: the template's location map at the transfer resolution."""
        if resolution in tuple(getattr(uv_lookup, "resolutions", ())):
            return uv_lookup.reference_location_map(resolution).detach().clone()
        reference = uv_lookup.reference_location_map().detach()
        return F.interpolate(reference, size=(resolution, resolution), mode="bilinear", align_corners=True)

    def forward(self, image: torch.Tensor, iuv_for_transfer: torch.Tensor | None = None) -> DecoMROutput:
        """Predict meshes.

        Parameters
        ----------
        image : (B, 3, H, W) float tensor
            ImageNet-normalised, H and W multiples of 32.
        iuv_for_transfer : (B, 3, H', W') float tensor, optional
            the IUV image that decides where features land in UV space (for example the ground
            truth during training); default the predicted one. Either way the texel index is
            not differentiated (``detach``); a different size is resampled to the feature map
            by nearest neighbour.

        Returns
        -------
        DecoMROutput
        """
        cnet = self.cnet(image)
        batch = image.shape[0]
        if iuv_for_transfer is None:
            iuv_for_transfer = cnet.iuv
        elif (not isinstance(iuv_for_transfer, torch.Tensor) or iuv_for_transfer.ndim != 4
              or iuv_for_transfer.shape[:2] != (batch, 3)):
            shape = tuple(iuv_for_transfer.shape) if isinstance(iuv_for_transfer, torch.Tensor) else type(iuv_for_transfer).__name__
            raise ValueError(f"iuv_for_transfer must have shape (B, 3, H, W) with B = {batch}, got {shape}")
        iuv_for_transfer = iuv_for_transfer.detach()
        size = self.transfer_resolution
        inputs = []
        uv_features = None
        if self.variant in ("local", "global+local"):
            uv_features = self.uv_lookup.transfer_to_uv(cnet.local_features, iuv_for_transfer, size)
        elif self.variant == "raw-pixels":
            # each IUV pixel carries the mean colour of the image block it covers
            pixels = F.adaptive_avg_pool2d(image, cnet.local_features.shape[-2:])
            uv_features = self.uv_lookup.transfer_to_uv(pixels, iuv_for_transfer, size)
        if uv_features is not None:
            inputs.append(uv_features)
        if self.uses_global:
            inputs.append(cnet.global_feature[:, :, None, None].expand(-1, -1, size, size))
        inputs.append(self.reference_map.to(cnet.local_features.dtype).expand(batch, -1, -1, -1))
        location_map = self.lnet(torch.cat(inputs, dim=1)) + self.location_offset.to(cnet.local_features.dtype)
        vertices = self.uv_lookup.vertices(location_map)
        return DecoMROutput(
            iuv=cnet.iuv,
            mask_logits=cnet.mask_logits,
            camera=cnet.camera,
            global_feature=cnet.global_feature,
            local_features=cnet.local_features,
            uv_features=uv_features,
            location_map=location_map,
            vertices=vertices,
        )

    def extra_repr(self) -> str:
        return (f"variant={self.variant!r}, backbone={self.backbone!r}, transfer_resolution={self.transfer_resolution}, "
                f"location_resolution={self.location_resolution}")
