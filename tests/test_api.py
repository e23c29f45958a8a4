"""The public API surface: names users import must not disappear by accident."""
import importlib

import pytest

PUBLIC = {
    "uvkit": ["load_template", "Template", "template_hash", "find_mirror", "inspect_mesh", "save_template_npz",
              "TemplateError", "UVMapError", "SymmetryError", "UnsafePickleError", "tol"],
    "uvkit.build": ["build_uv", "symmetry_error"],
    "uvkit.uvmap": ["UVMap", "build_uvmap", "load_uvmap"],
    "uvkit.importuv": ["import_uvmap"],
    "uvkit.exportuv": ["export_uv"],
    "uvkit.landmarks": ["Landmarks", "LandmarkError", "template_landmarks", "find_landmarks"],
    "uvkit.frame": ["BodyFrame", "detect_frame"],
    "uvkit.raster": ["rasterize", "LookupTable", "location_map_from_vertices", "vertices_from_location_map",
                     "round_trip_error"],
    "uvkit.metrics": ["s1_s2", "vertex_uv", "distortion"],
    "uvkit.compare": ["measure_map", "lookup_quality", "format_table"],
    "uvkit.plot": ["plot_uv_layout", "plot_distance_matrices"],
    "decomr.body": ["BodyModel", "BodyOutput", "mirror_pose", "JOINTS14_FROM_SMPL"],
    "decomr.uv": ["UVLookup"],
    "decomr.render": ["rasterize", "Renderer", "WeakPerspectiveCamera", "PerspectiveCamera", "project"],
    "decomr.models": ["DecoMR", "CNet", "LNet", "ResNet"],
    "decomr.losses": ["DecoMRLoss", "iuv_loss", "location_map_loss", "joints3d_loss", "joints2d_loss",
                      "consistency_loss", "tv_loss"],
    "decomr.checkpoint": ["save_checkpoint", "load_checkpoint", "load_model", "build_model"],
    "decomr.config": ["TrainConfig", "load_config"],
    "decomr.train": ["Trainer", "train"],
    "decomr.data": ["SyntheticPeople", "PoseSampler", "Augmenter", "SyntheticShards"],
    "decomr.metrics": ["mpjpe", "pa_mpjpe", "vertex_error"],
    "decomr.evaluate": ["evaluate_model"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    loaded = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(loaded, name)]
    assert not missing, f"{module} lost {missing}"
