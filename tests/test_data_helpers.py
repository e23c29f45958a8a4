"""Shared fixtures of the decomr.data tests (no tests here).

``projection_uvmap`` is a cheap left-right symmetric UV map of the open body: u from x, v from
height, one UV vertex per mesh vertex. Charts overlap (front and back share UVs), which is fine
for IUV rendering and flip tests, and it builds in milliseconds instead of a real unwrap.
"""
from __future__ import annotations

import functools

import numpy as np

from uvkit.template import load_template
from uvkit.uvmap import build_uvmap


@functools.lru_cache(maxsize=1)
def open_template():
    return load_template("open")


@functools.lru_cache(maxsize=1)
def projection_uvmap():
    template = open_template()
    vertices = template.vertices
    half_width = np.abs(vertices[:, 0]).max()
    low, high = vertices[:, 1].min(), vertices[:, 1].max()
    vt = np.stack([0.5 + 0.45 * vertices[:, 0] / half_width, 0.05 + 0.9 * (high - vertices[:, 1]) / (high - low)], 1)
    # exact symmetry: average each vertex with its mirror
    mirror = template.mirror
    vt = 0.5 * (vt + np.stack([1.0 - vt[mirror, 0], vt[mirror, 1]], 1))
    faces = template.faces
    return build_uvmap(vt, faces, np.arange(len(vertices)), faces, len(vertices), parts=template.parts,
                       vt_mirror=mirror, mirror=mirror, resolutions=(16,),
                       meta={"template_sha256": template.sha256, "template_name": "open_body",
                             "generator": "test-projection"})
