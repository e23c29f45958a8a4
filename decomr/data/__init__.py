"""Training data: synthetic people (poses, appearance, rendering), shards on disk, augmentation.

- :mod:`.poses`: joint limits, key poses, :class:`PoseSampler`.
- :mod:`.appearance`: UV-space clothing (:class:`TexturePainter`), backgrounds, lighting.
- :mod:`.synthetic`: :class:`SyntheticPeople` (on the fly), :class:`SyntheticRenderer`.
- :mod:`.shards`: ``decomr-synth`` output (:func:`write_shard`) and :class:`SyntheticShards`.
- :mod:`.augment`: the DecoMR augmentation (scale, rotation, flip, colour).
"""
from .augment import AugmentConfig, AugmentParams, Augmenter, colour_scale, flip_sample, rotate_scale_sample
from .poses import JOINT_LIMITS, KEY_POSES, PoseConfig, PoseSampler, clamp_to_limits, within_limits
from .shards import ShardSpec, SyntheticShards, parse_shard, shard_indices, write_shard
from .synthetic import SyntheticConfig, SyntheticPeople, SyntheticRenderer, body_to_camera_pose, sample_rng

__all__ = [
    "AugmentConfig", "AugmentParams", "Augmenter", "colour_scale", "flip_sample", "rotate_scale_sample",
    "JOINT_LIMITS", "KEY_POSES", "PoseConfig", "PoseSampler", "clamp_to_limits", "within_limits",
    "ShardSpec", "SyntheticShards", "parse_shard", "shard_indices", "write_shard",
    "SyntheticConfig", "SyntheticPeople", "SyntheticRenderer", "body_to_camera_pose", "sample_rng",
]
