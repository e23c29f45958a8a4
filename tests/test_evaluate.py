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
