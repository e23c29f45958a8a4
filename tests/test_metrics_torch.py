"""decomr.metrics: joint/vertex errors (Procrustes against a scipy reference) and segmentation scores."""
import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from decomr.metrics import (ALIGNMENTS, PART_NAMES, confusion_matrix, joint_error, joint_to_part_table, mpjpe,
                            pa_mpjpe, part_labels_from_joints, procrustes_align, segmentation_scores,
                            vertex_error)
from uvkit.parts import JOINT_NAMES, MIRROR_JOINTS


def skeleton(generator, batch=3, joints=14):
    return torch.randn(batch, joints, 3, generator=generator, dtype=torch.float64) * 0.3


def similarity(points, seed=0):
    """A random similarity transform applied to (B, N, 3) points."""
    rng = np.random.default_rng(seed)
    rotation = torch.from_numpy(Rotation.random(points.shape[0], random_state=seed).as_matrix())
    scale = torch.from_numpy(rng.uniform(0.5, 2.0, size=(points.shape[0], 1, 1)))
    shift = torch.from_numpy(rng.normal(size=(points.shape[0], 1, 3)))
    return scale * points @ rotation.transpose(1, 2) + shift


def reference_pa_mpjpe(pred, gt):
    """Numpy reference built on scipy.linalg.orthogonal_procrustes (reflections checked absent)."""
    out = []
    for x, y in zip(pred, gt):
        xc, yc = x - x.mean(0), y - y.mean(0)
        rotation, _ = orthogonal_procrustes(xc, yc)  # minimises ||xc R - yc||
        assert np.linalg.det(rotation) > 0
        scale = np.trace(rotation.T @ xc.T @ yc) / (xc ** 2).sum()
        aligned = scale * xc @ rotation + y.mean(0)
        out.append(np.linalg.norm(aligned - y, axis=1).mean() * 1000.0)
    return np.array(out)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_errors_vanish_at_the_ground_truth(gen):
    gt = skeleton(gen)
    assert torch.allclose(mpjpe(gt, gt), torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(pa_mpjpe(gt, gt), torch.zeros(3, dtype=torch.float64), atol=1e-9)
    root = gt[:, 2:4].mean(1)
    assert torch.allclose(vertex_error(gt, gt, root, root), torch.zeros(3, dtype=torch.float64))


def test_mpjpe_aligns_mid_hips_and_is_in_millimetres(gen):
    gt = skeleton(gen)
    moved = gt + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)  # a translation: no error
    assert torch.allclose(mpjpe(moved, gt), torch.zeros(3, dtype=torch.float64), atol=1e-9)
    wrong = gt.clone()
    wrong[:, 0, 1] += 0.014  # 14 mm on one joint that is not a hip
    assert torch.allclose(mpjpe(wrong, gt), torch.full((3,), 1.0, dtype=torch.float64))
    # a hip moved by d shifts the pelvis by d / 2: every other joint is off by d / 2
    hip = gt.clone()
    hip[:, 2, 0] += 0.028
    expected = (12 * 14.0 + 2 * 14.0) / 14
    assert torch.allclose(mpjpe(hip, gt), torch.full((3,), expected, dtype=torch.float64))


def test_pa_mpjpe_matches_the_scipy_reference(gen):
    gt = skeleton(gen, batch=5)
    pred = gt + 0.05 * torch.randn(gt.shape, generator=gen, dtype=torch.float64)
    pred = similarity(pred, seed=3)
    np.testing.assert_allclose(pa_mpjpe(pred, gt).numpy(), reference_pa_mpjpe(pred.numpy(), gt.numpy()), rtol=1e-9)
    assert (mpjpe(pred, gt) > pa_mpjpe(pred, gt)).all()


def test_procrustes_recovers_a_known_similarity_exactly(gen):
    pred = skeleton(gen, batch=4, joints=30)
    gt = similarity(pred, seed=1)
    torch.testing.assert_close(procrustes_align(pred, gt), gt, atol=1e-10, rtol=0)
    assert (pa_mpjpe(pred, gt) < 1e-7).all()


def test_pa_mpjpe_is_invariant_to_a_similarity_of_the_prediction(gen):
    gt = skeleton(gen)
    pred = gt + 0.03 * torch.randn(gt.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(pa_mpjpe(similarity(pred, seed=7), gt), pa_mpjpe(pred, gt), atol=1e-8, rtol=0)
    # float32 input gives the same numbers (computed in float64)
    torch.testing.assert_close(pa_mpjpe(pred.float(), gt.float()), pa_mpjpe(pred, gt), atol=1e-3, rtol=0)


def test_procrustes_excludes_reflections(gen):
    pred = skeleton(gen, joints=20)
    mirrored = pred * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert (pa_mpjpe(pred, mirrored) > 1.0).all()


def test_zero_confidence_joints_are_left_out(gen):
    gt = skeleton(gen)
    pred = gt.clone()
    pred[:, 5] += 10.0
    confidence = torch.ones(3, 14)
    confidence[:, 5] = 0
    assert torch.allclose(mpjpe(pred, gt, confidence), torch.zeros(3, dtype=torch.float64))
    assert (pa_mpjpe(pred, gt, confidence) < 1e-6).all()
    assert torch.isnan(mpjpe(pred, gt, torch.zeros(3, 14))).all()


def test_vertex_error_alignments_and_bad_input(gen):
    gt = skeleton(gen, joints=50)
    pred = gt + 0.01
    root = torch.zeros(3, 3, dtype=torch.float64)
    assert torch.allclose(vertex_error(pred, gt, root, root), torch.full((3,), 10.0 * 3 ** 0.5, dtype=torch.float64))
    assert torch.allclose(vertex_error(pred, gt, root + 0.01, root), torch.zeros(3, dtype=torch.float64))
    assert (vertex_error(similarity(gt), gt, align="procrustes") < 1e-6).all()
    with pytest.raises(ValueError, match="valid choices: " + ", ".join(ALIGNMENTS)):
        joint_error(pred, gt, align="umeyama")
    with pytest.raises(ValueError, match="pred_pelvis"):
        vertex_error(pred, gt)
    with pytest.raises(ValueError, match="same shape"):
        mpjpe(pred[:, :10], gt)


def test_identical_masks_score_one_and_a_known_confusion():
    generator = torch.Generator().manual_seed(1)
    mask = torch.rand(2, 8, 8, generator=generator) > 0.5
    scores = segmentation_scores(confusion_matrix(mask.long(), mask.long(), 2))
    assert torch.equal(scores["accuracy"], torch.ones(2, dtype=torch.float64))
    assert torch.equal(scores["f1"], torch.ones(2, dtype=torch.float64))
    pred = torch.tensor([[[1, 1, 0, 0]]])
    gt = torch.tensor([[[1, 0, 0, 0]]])
    confusion = confusion_matrix(pred, gt, 2)
    assert confusion[0].tolist() == [[2, 1], [0, 1]]
    scores = segmentation_scores(confusion[0])
    assert float(scores["accuracy"]) == pytest.approx(0.75)
    assert float(scores["f1"]) == pytest.approx((4 / 5 + 2 / 3) / 2)
    # a class absent from both counts as perfect; dataset level = summed confusions
    seven = segmentation_scores(confusion_matrix(pred, gt, 7)[0])
    assert seven["f1_per_class"][2:].tolist() == [1.0] * 5
    with pytest.raises(ValueError, match="0..1"):
        confusion_matrix(pred + 1, gt, 2)


def test_six_part_grouping_is_complete_and_mirror_consistent():
    table = joint_to_part_table()
    assert sorted(set(table.tolist())) == list(range(1, 7)) and len(PART_NAMES) == 6
    mirror_label = {1: 1, 2: 2, 3: 4, 4: 3, 5: 6, 6: 5}
    for joint, label in enumerate(table.tolist()):
        assert table[MIRROR_JOINTS[joint]] == mirror_label[label], JOINT_NAMES[joint]
    labels = torch.arange(25).reshape(5, 5)
    parts = part_labels_from_joints(labels)
    assert parts[0, 0] == 0 and parts.flatten()[1:].min() >= 1
    assert parts.flatten()[JOINT_NAMES.index("left_wrist") + 1] == 1 + PART_NAMES.index("left_arm")
    with pytest.raises(ValueError, match="0..24"):
        part_labels_from_joints(torch.tensor([25]))
