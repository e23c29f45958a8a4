"""DecoMR networks: the ResNet encoder, CNet (image space), LNet (UV space) and the full model."""
from decomr.models.cnet import GLOBAL_CHANNELS, CNet, CNetOutput
from decomr.models.decomr import VARIANTS, DecoMR, DecoMROutput, check_variant
from decomr.models.lnet import LNet
from decomr.models.resnet import BACKBONES, ResNet, check_backbone, load_backbone_weights, read_state_dict

__all__ = [
    "BACKBONES", "VARIANTS", "GLOBAL_CHANNELS",
    "ResNet", "CNet", "CNetOutput", "LNet", "DecoMR", "DecoMROutput",
    "check_backbone", "check_variant", "load_backbone_weights", "read_state_dict",
]
