import json

import numpy as np
import pytest
import torch

from decomr.data.shards import SyntheticShards, parse_shard, shard_indices, write_shard
from decomr.data.poses import global_angles
from decomr.data.synth_cli import main as synth_main
from decomr.data.synthetic import SyntheticConfig, SyntheticPeople, SyntheticRenderer, body_to_camera_pose
from decomr.render import PerspectiveCamera
from test_data_helpers import open_template, projection_uvmap

SIZE = 64


def config(**kw):
    return SyntheticConfig(size=SIZE, length=12, seed=5, texture_resolution=32, **kw)


@pytest.fixture(scope="module")
def dataset():
    return SyntheticPeople(config(), uvmap=projection_uvmap(), template=open_template())


def test_sample_contents(dataset):
    sample = dataset[3]
    n_vertices = open_template().n_vertices
    shapes = {"image": (3, SIZE, SIZE), "iuv": (3, SIZE, SIZE), "mask": (SIZE, SIZE), "parts": (SIZE, SIZE),
              "joints2d": (24, 3), "joints3d": (24, 4), "vertices": (n_vertices, 3), "pose": (72,), "betas": (10,),
              "camera": (4,), "camera_weak": (3,), "center": (2,), "scale": (), "has_smpl": (), "has_3d": (),
              "has_iuv": (), "index": ()}
    for key, shape in shapes.items():
        assert tuple(sample[key].shape) == shape, key
    assert sample["parts"].dtype == torch.int64 and int(sample["index"]) == 3
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    mask = sample["mask"] > 0
    assert torch.equal(mask, sample["parts"] > 0) and torch.equal(mask, sample["iuv"][0] > 0.5)
    assert float(sample["betas"].abs().max()) <= 2.5
    # centred with a margin: the body touches no border, its box centre is near the crop centre
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert rows.min() > 0 and cols.min() > 0 and rows.max() < SIZE - 1 and cols.max() < SIZE - 1
    assert torch.allclose(sample["center"], torch.tensor([SIZE / 2, SIZE / 2]), atol=0.05 * SIZE)
    assert abs(float(sample["scale"]) - SIZE / 200) < 1e-4 * SIZE


def test_joints_agree_with_the_camera(dataset):
    sample = dataset[1]
    focal, t = sample["camera"][0], sample["camera"][1:]
    camera = PerspectiveCamera(focal_length=focal[None], principal_point=torch.full((1, 2), SIZE / 2),
                               translation=t[None], image_size=SIZE)
    xy = camera.transform(sample["joints3d"][None, :, :3])[0, :, :2]
    torch.testing.assert_close(xy, sample["joints2d"][:, :2], atol=1e-5, rtol=0)
    # the pelvis projects onto the body
    col, row = ((sample["joints2d"][0, :2] + 1) * SIZE / 2).long().tolist()
    assert sample["mask"][row - 1:row + 2, col - 1:col + 2].any()
    # weak perspective ~ perspective at this distance
    s, tx, ty = sample["camera_weak"]
    weak = s * (sample["joints3d"][:, :2] + torch.stack([tx, ty]))
    assert (weak - sample["joints2d"][:, :2]).abs().max() < 0.15


def test_reproducible_and_batch_independent(dataset):
    again = SyntheticPeople(config(), uvmap=projection_uvmap(), template=open_template())
    batch = dataset.__getitems__([2, 7, 4])
    single = again[7]
    for key, value in single.items():
        torch.testing.assert_close(batch[1][key], value, atol=1e-5, rtol=0, msg=key)
    assert not torch.equal(batch[0]["image"], batch[2]["image"])
    other_seed = SyntheticPeople(SyntheticConfig(size=SIZE, length=12, seed=6, texture_resolution=32),
                                 uvmap=projection_uvmap(), template=open_template())
    assert not torch.equal(other_seed[7]["pose"], single["pose"])


def test_bad_options():
    with pytest.raises(ValueError, match="pad"):
        SyntheticConfig(pad=(0.5, 1.0))
    with pytest.raises(ValueError, match="i/K"):
        parse_shard("3")
    with pytest.raises(ValueError, match="0 <= i < K"):
        parse_shard("4/4")
    with pytest.raises(IndexError):
        SyntheticPeople(config(), uvmap=projection_uvmap(), template=open_template())[12]


def test_shards_union_independent_of_k(tmp_path, dataset):
    engine = dataset.engine
    n = 5
    for i in range(2):
        assert write_shard(tmp_path / "k2", engine, n, parse_shard(f"{i}/2"), batch_size=2) == len(
            shard_indices(n, parse_shard(f"{i}/2")))
    write_shard(tmp_path / "k1", engine, n, parse_shard("0/1"), batch_size=3)
    # resumable: a finished shard renders nothing
    assert write_shard(tmp_path / "k1", engine, n, parse_shard("0/1")) == 0
    a, b = SyntheticShards(tmp_path / "k1"), SyntheticShards(tmp_path / "k2")
    assert a.indices.tolist() == b.indices.tolist() == list(range(n))
    for k in range(n):
        x, y = a[k], b[k]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["parts"], y["parts"])
        torch.testing.assert_close(x["iuv"], y["iuv"], atol=2e-5, rtol=0)
    # what is read back is what was rendered (8-bit image, 16-bit UV)
    fresh = dataset[2]
    read = a[2]
    assert (read["image"] - fresh["image"]).abs().max() <= 0.5 / 255 + 1e-6
    assert (read["iuv"] - fresh["iuv"]).abs().max() <= 1e-4
    torch.testing.assert_close(read["vertices"], fresh["vertices"], atol=1e-5, rtol=0)
    torch.testing.assert_close(read["joints2d"], fresh["joints2d"])


def test_shards_refuse_other_settings(tmp_path, dataset):
    write_shard(tmp_path, dataset.engine, 1, parse_shard("0/1"))
    other = SyntheticRenderer(SyntheticConfig(size=SIZE, seed=99, texture_resolution=32), uvmap=projection_uvmap(),
                              body=dataset.engine.body)
    with pytest.raises(ValueError, match="other settings"):
        write_shard(tmp_path, other, 1, parse_shard("0/1"))


def test_cli(tmp_path, capsys):
    uv = tmp_path / "uv.npz"
    projection_uvmap().save(uv)
    out = tmp_path / "out"
    args = ["--out", str(out), "--n", "2", "--seed", "1", "--shard", "1/2", "--size", "32", "--uv", str(uv),
            "--no-progress"]
    assert synth_main(args) == 0
    assert SyntheticShards(out).indices.tolist() == [1]
    assert json.loads(next(out.glob("config-*.json")).read_text())["n"] == 2
    assert synth_main(["--out", str(out), "--n", "2", "--shard", "2/2", "--no-progress"]) == 2
    assert "0 <= i < K" in capsys.readouterr().err
    assert synth_main(["--out", str(out), "--n", "2", "--yaw", "30", "--no-progress"]) == 2
    assert "--yaw must be two numbers" in capsys.readouterr().err
    facing = tmp_path / "facing"
    assert synth_main(["--out", str(facing), "--n", "2", "--size", "32", "--uv", str(uv), "--yaw=-20,20",
                       "--no-progress"]) == 0
    saved = json.loads(next(facing.glob("config-*.json")).read_text())
    assert saved["config"]["pose"]["yaw_deg"] == [-20.0, 20.0]
    # stored poses are in camera axes; the 180 degree turn about x is its own inverse
    body_pose = body_to_camera_pose(SyntheticShards(facing)[0]["pose"].double().numpy())
    assert -20 <= np.degrees(global_angles(body_pose[None, :3])[0, 0]) <= 20


def test_new_people_each_epoch():
    kwargs = dict(uvmap=projection_uvmap(), template=open_template())
    cfg = SyntheticConfig(size=32, length=3, seed=2, texture_resolution=16)
    fresh = SyntheticPeople(cfg, new_people=True, **kwargs)
    same = SyntheticPeople(cfg, **kwargs)
    longer = SyntheticPeople(SyntheticConfig(size=32, length=8, seed=2, texture_resolution=16), **kwargs)
    # epoch 0: person i, with or without new people
    torch.testing.assert_close(fresh[1]["image"], same[1]["image"])
    assert int(fresh[1]["index"]) == 1
    fresh.set_epoch(2)
    same.set_epoch(2)
    # epoch 2's sample 1 is person 2 * 3 + 1 = 7 of the seed's stream (person 7 of a longer set)
    assert fresh.person(1) == 7 and int(fresh[1]["index"]) == 7
    torch.testing.assert_close(fresh[1]["image"], longer[7]["image"])
    torch.testing.assert_close(fresh[1]["vertices"], longer[7]["vertices"])
    assert not torch.equal(fresh[1]["vertices"], same[1]["vertices"])
    # without new people, the epoch changes nothing
    torch.testing.assert_close(same[1]["vertices"], longer[1]["vertices"])
    with pytest.raises(IndexError):
        fresh.person(3)
    with pytest.raises(ValueError, match="epoch"):
        fresh.set_epoch(-1)
