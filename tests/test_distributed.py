"""decomr.distributed: the sharded resumable sampler, and DDP training with 2 CPU processes
(gloo): the workers end with identical weights, and a resumed distributed run equals an
uninterrupted one."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from decomr.distributed import ShardedBatchSampler, init_distributed, resolve_device


def test_sampler_shards_cover_the_single_process_batches():
    single = ShardedBatchSampler(10, 4, seed=3)
    ranks = [ShardedBatchSampler(10, 4, seed=3, rank=r, world_size=2) for r in range(2)]
    for sampler in [single, *ranks]:
        sampler.set_epoch(1)
    assert single.steps_per_epoch == 2 and len(single) == 2
    per_rank = [list(sampler) for sampler in ranks]
    assert [a + b for a, b in zip(*per_rank)] == list(single)
    flat = [i for batch in single for i in batch]
    assert len(set(flat)) == 8  # no sample twice in an epoch


def test_sampler_order_depends_on_seed_and_epoch_and_skips_on_resume():
    sampler = ShardedBatchSampler(12, 2, seed=0)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    sampler.set_epoch(0, start_step=4)
    assert list(sampler) == epoch0[4:] and len(sampler) == 2
    other = ShardedBatchSampler(12, 2, seed=1)
    other.set_epoch(0)
    assert list(other) != epoch0


def test_sampler_bad_input():
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        ShardedBatchSampler(10, 3, world_size=2)
    with pytest.raises(ValueError, match="fewer than one global batch"):
        ShardedBatchSampler(3, 4)
    sampler = ShardedBatchSampler(10, 2)
    with pytest.raises(ValueError, match="start_step"):
        sampler.set_epoch(0, start_step=6)


def test_single_process_context_and_devices():
    context = init_distributed("cpu")
    assert context.world_size == 1 and context.is_main and not context.distributed
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="valid choices"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from test_train import TinyPeople, tiny_config

    from decomr.train import Trainer

    folder = Path(folder)
    context = init_distributed("cpu")
    assert context.backend == "gloo" and context.world_size == world_size
    sections = {"data.batch_size": 4, "optim.stage2_epochs": 2}
    runs = [("whole", {}), ("pieces", {"run.max_steps": 3}), ("pieces", {"run.resume": "last"})]
    for name, extra in runs:
        config = tiny_config(folder, name, **sections, **extra)
        trainer = Trainer(config, TinyPeople(Path(config.model.template), length=8), context=context)
        result = trainer.run()
        state = {k: v for k, v in trainer.model.state_dict().items() if not k.startswith("uv_lookup.")}
        torch.save({"state": state, "status": result.status, "steps": result.progress.global_step},
                   folder / f"{name}_rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_ddp_gloo_two_processes(tmp_path):
    from test_train import make_assets

    make_assets(tmp_path)  # written once, before the workers read it
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    results = {(name, rank): torch.load(tmp_path / f"{name}_rank{rank}.pt", weights_only=True)
               for name in ("whole", "pieces") for rank in range(2)}
    for name in ("whole", "pieces"):
        assert results[(name, 0)]["status"] == "finished" and results[(name, 0)]["steps"] == 6
        a, b = results[(name, 0)]["state"], results[(name, 1)]["state"]
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    whole, pieces = results[("whole", 0)]["state"], results[("pieces", 0)]["state"]
    for key in whole:
        assert torch.equal(whole[key], pieces[key]), key
    assert (tmp_path / "whole" / "checkpoints" / "stage2.pt").is_file()
