"""A tiny standard dataset built in code from the open body (no real dataset, no SMPL file).

Four posed open bodies are rendered into 96 x 96 images with known weak-perspective cameras
(image colour = (mask, U, V) of the native UV atlas); the annotation ``.npz`` holds their boxes,
2D joints (pixels, integer pixel centres), 3D joints, pose and shape in the field's format, in
SMPL joint order. The exact camera of each crop is known, so cropping, camera fitting and IUV
preparation can be checked against direct rendering.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from decomr.body import BodyModel
from decomr.render import Renderer, WeakPerspectiveCamera, project
from decomr.uv import UVLookup
from uvkit.importuv import import_uvmap
from uvkit.template import Template, load_template

IMAGE_SIZE = 96
CROP_SIZE = 64
UV_RESOLUTION = 32


@dataclass
class StandardFixture:
    root: Path
    npz: Path
    images: Path
    uv: Path
    template: Template
    body: BodyModel
    lookup: UVLookup
    uvmap: object
    pose: np.ndarray  # (4, 72)
    betas: np.ndarray  # (4, 10)
    crop_cameras: np.ndarray  # (4, 3) the exact weak-perspective camera of each crop
    imgname: list


_CACHE: dict = {}


def shared_body():
    """Template, body layer, native UV map and its lookup (built once per test session)."""
    if "body" not in _CACHE:
        template = load_template("open")
        uvmap = import_uvmap(template, resolutions=(UV_RESOLUTION,))
        _CACHE["body"] = (template, BodyModel(template), uvmap,
                          UVLookup(uvmap, template=template, resolution=UV_RESOLUTION))
    return _CACHE["body"]


def random_poses(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 72) mild poses, upright in camera axes (global orientation ~ (pi, 0, 0)), (n, 10) betas."""
    rng = np.random.default_rng(seed)
    pose = rng.normal(0.0, 0.15, size=(n, 72))
    pose[:, :3] = [np.pi, 0.0, 0.0] + rng.normal(0.0, 0.1, size=(n, 3))
    betas = rng.normal(0.0, 0.5, size=(n, 10))
    return pose, betas


def build_standard_fixture(root: Path, seed: int = 0) -> StandardFixture:
    """Write ``root/data.npz``, ``root/images/*.png`` and ``root/uv.npz``."""
    template, body, uvmap, lookup = shared_body()
    root = Path(root)
    images = root / "images"
    (images / "sub").mkdir(parents=True, exist_ok=True)
    uv_path = root / "uv.npz"
    uvmap.save(uv_path)
    n = 4
    pose, betas = random_poses(n, seed)
    with torch.no_grad():
        posed = body(torch.from_numpy(pose).float(), torch.from_numpy(betas).float())
    # weak-perspective cameras in normalised image coordinates of the full 96 x 96 image
    image_cameras = torch.tensor([[0.9, 0.05, 0.1], [0.7, -0.2, 0.0], [1.0, 0.1, -0.05], [0.5, 0.3, 0.2]])
    renderer = Renderer(template.faces, IMAGE_SIZE, vt=uvmap.vt, ft=uvmap.ft)
    with torch.no_grad():
        rendered = renderer(posed.vertices, WeakPerspectiveCamera(image_cameras))
        image_xy = project(posed.joints, WeakPerspectiveCamera(image_cameras)).double()  # (n, 24, 2)
    pixels = (image_xy + 1.0) * IMAGE_SIZE / 2.0 - 0.5  # integer pixel centres
    # boxes: side 80, 70, 100 px and one larger than twice the crop (200 px, beyond the image)
    sides = np.array([80.0, 70.0, 100.0, 200.0])
    centers = np.array([[48.0, 47.0], [40.5, 50.0], [50.0, 52.0], [45.0, 40.0]])
    imgname = [f"img_{k}.png" if k != 2 else f"sub/img_{k}.png" for k in range(n)]
    for k in range(n):
        picture = (rendered.iuv[k].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        Image.fromarray(picture).save(images / imgname[k])
    # crop camera: n = (W / side) m + (W / 2 - 0.5 - center) / (side / 2), m = s0 (X + t0)
    s0 = image_cameras[:, 0].double().numpy()
    t0 = image_cameras[:, 1:].double().numpy()
    s_crop = IMAGE_SIZE / sides * s0
    shift = (IMAGE_SIZE / 2.0 - 0.5 - centers) / (sides[:, None] / 2.0)
    crop_cameras = np.concatenate([s_crop[:, None], t0 + shift / s_crop[:, None]], axis=1)
    joints3d = np.concatenate([posed.joints.double().numpy(), np.ones((n, 24, 1))], axis=2)
    part = np.concatenate([pixels.numpy(), np.ones((n, 24, 1))], axis=2)
    npz = root / "data.npz"
    np.savez(npz, imgname=np.array(imgname), center=centers, scale=sides / 200.0, part=part, S=joints3d,
             pose=pose, shape=betas, has_smpl=np.ones(n), gender=np.array(["n"] * n))
    return StandardFixture(root=root, npz=npz, images=images, uv=uv_path, template=template, body=body,
                           lookup=lookup, uvmap=uvmap, pose=pose, betas=betas, crop_cameras=crop_cameras,
                           imgname=imgname)
