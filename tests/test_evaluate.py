"""decomr.evaluate: a stand-in model that returns the ground truth scores perfectly."""
import json
from types import SimpleNamespace

import pytest
import torch

import decomr.evaluate as evaluate_module
from decomr.data.prepare import prepare_iuv
from decomr.data.standard import StandardDataset
from decomr.evaluate import METRICS, evaluate_model, normalize_images
from fixtures_standard import CROP_SIZE, build_standard_fixture


class GroundTruthModel(torch.nn.Module):
    """Returns, for each input image, the ground-truth mesh, camera and location map of the
    dataset sample whose normalised image it is (matched by nearest image)."""

    def __init__(self, dataset, lookup, offset=None):
        super().__init__()
        samples = [dataset[k] for k in range(len(dataset))]
        self.images = torch.stack([normalize_images(s["image"][None])[0] for s in samples]).flatten(1)
        self.vertices = torch.stack([s["vertices"] for s in samples])
        self.cameras = torch.stack([s["camera_weak"] for s in samples])
        self.lookup = lookup
        self.offset = offset
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, images):
        match = torch.cdist(images.flatten(1), self.images).argmin(dim=1)
        vertices = self.vertices[match]
        if self.offset is not None:
            vertices = vertices + self.offset
        return SimpleNamespace(vertices=vertices, camera=self.cameras[match],
                               location_map=self.lookup.location_map(vertices))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    fixture = build_standard_fixture(tmp_path_factory.mktemp("evaluate"))
    prepare_iuv(fixture.npz, fixture.uv, fixture.root / "prepared", size=CROP_SIZE)
    dataset = StandardDataset(fixture.npz, fixture.images, body=fixture.body, prepared=fixture.root / "prepared",
                              uvmap=fixture.uv, size=CROP_SIZE)
    return fixture, dataset


def test_ground_truth_predictions_score_perfectly(setup):
    fixture, dataset = setup

    class WithoutJoints(torch.utils.data.Dataset):  # ground-truth joints from the mesh
        def __len__(self):
            return len(dataset)

        def __getitem__(self, i):
            sample = dict(dataset[i])
            sample["has_3d"] = torch.tensor(0.0)
            return sample

    model = GroundTruthModel(dataset, fixture.lookup)
    loader = torch.utils.data.DataLoader(WithoutJoints(), batch_size=3)
    results = evaluate_model(model, loader, fixture.body, uv_lookup=fixture.lookup)
    assert len(results.per_sample) == 4
    for record in results.per_sample:
        assert record["mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
        assert record["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
        assert record["pve_mm"] == pytest.approx(0.0, abs=1e-3)
        assert record["location_map_mm"] == pytest.approx(0.0, abs=1e-3)
        for name in ("fg_accuracy", "fg_f1", "parts_accuracy", "parts_f1"):
            assert record[name] == 1.0, name
    seg = results.summary["segmentation"]
    assert seg["count"] == 4 and seg["fg_f1"] == 1.0 and seg["parts_f1"] == 1.0
    assert results.summary["pve_mm"]["count"] == 4


def test_annotated_joints_and_a_shifted_prediction(setup):
    fixture, dataset = setup
    loader = torch.utils.data.DataLoader(dataset, batch_size=4)
    exact = evaluate_model(GroundTruthModel(dataset, fixture.lookup), loader, fixture.body)
    # annotated joints are the rig's; evaluation joints use the sparse regressor: close, not equal
    assert 0.0 <= exact.summary["mpjpe_mm"]["mean"] < 30.0
    assert exact.summary["pa_mpjpe_mm"]["mean"] <= exact.summary["mpjpe_mm"]["mean"] + 1e-6
    shift = torch.tensor([0.0, 0.0, 0.05])  # 5 cm along depth: invisible to the pelvis-aligned metrics
    shifted = evaluate_model(GroundTruthModel(dataset, fixture.lookup, offset=shift), loader, fixture.body)
    assert shifted.summary["pve_mm"]["mean"] == pytest.approx(0.0, abs=1e-3)
    assert shifted.summary["mpjpe_mm"]["mean"] == pytest.approx(exact.summary["mpjpe_mm"]["mean"], abs=1e-3)
    sideways = torch.tensor([0.3, 0.0, 0.0])  # moves the silhouette: segmentation drops
    moved = evaluate_model(GroundTruthModel(dataset, fixture.lookup, offset=sideways), loader, fixture.body)
    assert moved.summary["segmentation"]["fg_f1"] < 0.95
    assert moved.summary["pve_mm"]["mean"] == pytest.approx(0.0, abs=1e-3)


def test_cli_writes_json_and_prints_a_table(setup, tmp_path, monkeypatch, capsys):
    fixture, dataset = setup
    model = GroundTruthModel(dataset, fixture.lookup)
    model.uv_lookup = fixture.lookup
    monkeypatch.setattr(evaluate_module, "_load_model", lambda path: (model, {}))
    out = tmp_path / "eval"
    code = evaluate_module.main(["--checkpoint", "unused.pt", "--data", str(fixture.npz), "--images",
                                 str(fixture.images), "--prepared", str(fixture.root / "prepared"), "--uv",
                                 str(fixture.uv), "--size", str(CROP_SIZE), "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0
    for name in METRICS:
        assert name in printed
    per_sample = json.loads((out / "per_sample.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert len(per_sample) == 4 and summary["n_samples"] == 4 and summary["segmentation"]["fg_f1"] == 1.0
    code = evaluate_module.main(["--checkpoint", "unused.pt", "--data", str(fixture.npz), "--prepared",
                                 str(fixture.root / "prepared"), "--out", str(out)])
    assert code == 2 and "--uv" in capsys.readouterr().err


# ---------------------------------------------------------------------------- decomr-synth folders
@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory):
    from decomr.data.shards import parse_shard, write_shard
    from decomr.data.synthetic import SyntheticConfig, SyntheticRenderer
    from test_data_helpers import open_template, projection_uvmap

    root = tmp_path_factory.mktemp("synth") / "test"
    engine = SyntheticRenderer(SyntheticConfig(size=32, length=3, seed=7, texture_resolution=32),
                               uvmap=projection_uvmap(), template=open_template())
    write_shard(root, engine, 3, parse_shard("0/1"), batch_size=3)
    return root


def test_mean_body_is_the_mean_pelvis_aligned_mesh(synth_folder):
    from decomr.body import BodyModel
    from decomr.data.shards import SyntheticShards
    from decomr.evaluate import MeanBodyModel, is_synth_folder, mean_body

    assert is_synth_folder(synth_folder) and not is_synth_folder(synth_folder / "samples")
    body = BodyModel("open")
    dataset = SyntheticShards(synth_folder, body=body)
    one = mean_body(dataset, body, limit=1)
    assert isinstance(one, MeanBodyModel) and one.n_samples == 1
    # the mean of one mesh is that mesh: it scores 0 mm on that sample
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, [0]), batch_size=1)
    results = evaluate_model(one, loader, body)
    assert results.per_sample[0]["pve_mm"] == pytest.approx(0.0, abs=1e-3)
    # annotated joints are the rig's, evaluation joints the sparse regressor's: close, not equal
    assert results.per_sample[0]["mpjpe_mm"] < 40.0
    full = mean_body(dataset, body)
    assert full.n_samples == 3
    output = full(torch.zeros(2, 3, 32, 32))
    assert output["vertices"].shape == (2, body.template.n_vertices, 3) and output["camera"].shape == (2, 3)


def test_cli_on_a_synth_folder(synth_folder, tmp_path, monkeypatch, capsys):
    from decomr.body import BodyModel
    from decomr.data.shards import SyntheticShards

    out = tmp_path / "base"
    code = evaluate_module.main(["--mean-body", str(synth_folder), "--data", str(synth_folder), "--out", str(out),
                                 "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_samples"] == 3 and summary["pve_mm"]["count"] == 3 and summary["pve_mm"]["mean"] > 0
    assert summary["checkpoint"] is None and summary["mean_body"] == str(synth_folder)
    assert summary["segmentation"]["count"] == 3

    # a checkpoint's model on the folder (a stand-in that returns the ground truth)
    dataset = SyntheticShards(synth_folder, body=BodyModel("open"))
    lookup = _identity_lookup()
    model = GroundTruthModel(dataset, lookup)
    monkeypatch.setattr(evaluate_module, "_load_model", lambda path: (model, {}))
    out = tmp_path / "model"
    assert evaluate_module.main(["--checkpoint", "x.pt", "--data", str(synth_folder), "--out", str(out),
                                 "--compare-to", str(tmp_path / "base")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pve_mm"]["mean"] == pytest.approx(0.0, abs=1e-3)
    # against the mean body, sample by sample: the perfect model is lower by the mean body's error
    base = json.loads((tmp_path / "base" / "summary.json").read_text())
    comparison = json.loads((out / "comparison.json").read_text())["metrics"]["pve_mm"]
    assert comparison["n"] == 3 and comparison["better_fraction"] == 1.0
    assert comparison["difference"] == pytest.approx(-base["pve_mm"]["mean"], abs=1e-3)
    assert "lower on 100% of them" in capsys.readouterr().out
    assert evaluate_module.main(["--checkpoint", "x.pt", "--data", str(synth_folder), "--out", str(out),
                                 "--compare-to", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err

    # bad uses: a size other than the folder's, neither or both of --checkpoint / --mean-body
    assert evaluate_module.main(["--checkpoint", "x.pt", "--data", str(synth_folder), "--size", "64",
                                 "--out", str(out)]) == 2
    assert "32 x 32" in capsys.readouterr().err
    assert evaluate_module.main(["--data", str(synth_folder), "--out", str(out)]) == 2
    assert evaluate_module.main(["--checkpoint", "x.pt", "--mean-body", str(synth_folder), "--data",
                                 str(synth_folder), "--out", str(out)]) == 2
    assert "exactly one" in capsys.readouterr().err
    assert evaluate_module.main(["--mean-body", str(tmp_path), "--data", str(synth_folder), "--out", str(out)]) == 2


def _identity_lookup():
    class NoLookup:
        def location_map(self, vertices):
            return None
    return NoLookup()


def test_paired_comparison_matches_samples_by_index():
    from decomr.evaluate import paired_comparison

    base = [{"index": i, "dataset": None, "pve_mm": 100.0 + 10 * i} for i in range(4)]
    # three of four samples in another order, each 5 mm lower but one 5 mm higher; a missing value
    records = [{"index": 2, "dataset": None, "pve_mm": 115.0}, {"index": 0, "dataset": None, "pve_mm": 95.0},
               {"index": 1, "dataset": None, "pve_mm": 115.0}, {"index": 3, "dataset": None, "pve_mm": None}]
    result = paired_comparison(records, base, ("pve_mm",))["pve_mm"]
    assert result["n"] == 3
    assert result["difference"] == pytest.approx(-5 / 3)
    assert result["better_fraction"] == pytest.approx(2 / 3)
    diffs = [-5.0, -5.0, 5.0]
    mean = sum(diffs) / 3
    assert result["sem"] == pytest.approx((sum((d - mean) ** 2 for d in diffs) / 2 / 3) ** 0.5)
    # another dataset's index 0 is another sample
    other = paired_comparison([{"index": 0, "dataset": "b", "pve_mm": 1.0}], base, ("pve_mm",))["pve_mm"]
    assert other["n"] == 0 and other["difference"] is None
