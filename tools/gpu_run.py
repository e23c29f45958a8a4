"""One run for a lent GPU machine: CUDA tests, throughput, training on the fly, evaluation, log.

    python tools/gpu_run.py OUTDIR                         # CUDA, ResNet-50, batch 128, 224 px, bf16
    python tools/gpu_run.py OUTDIR --device cpu --smoke    # every step at a tiny setting (tests)

Steps, each timed, all within ``--budget`` seconds of wall time (default 510 s, under the
9 minutes a lent machine gives one command):

1. ``tests``: the CUDA-parametrised tests (``pytest -k cuda``; on a CPU they skip);
2. ``generator``: samples/s of the on-device synthetic people alone at the training batch;
3. ``throughput``: training img/s of stage-2 steps (the paper's model and batch, bf16 autocast)
   fed by the on-device generator, and on one batch held on the device; the ratio of the two
   is the share of the step the GPU spends on the model ("GPU busy");
4. ``train``: stage 1 then stage 2 on on-device people for the time left (a time guard stops
   the run with a checkpoint), the checkpoints and logs under ``OUTDIR/train``;
5. ``eval``: the final weights and the mean body of the training distribution on held-out
   synthetic people (the test seed of ``tools/ablation.py``), ``decomr.evaluate`` as in
   ``decomr-eval``, written to ``OUTDIR/eval`` and ``OUTDIR/eval_mean_body``.

``OUTDIR/summary.json`` holds every number (written after each step, so a killed run keeps what
it measured), ``OUTDIR/summary.md`` the same as a table for ``docs/results.md``, and
``OUTDIR/gpu_run.log`` the log.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("gpu_run")
TEST_SEED = 1000003  # the held-out test people of tools/ablation.py


@dataclass
class Setting:
    """The sizes of one run (full on a GPU, tiny for the smoke test)."""

    backbone: str
    batch: int
    size: int
    resolution: int
    transfer: int
    lnet_channels: int | None
    amp: str
    warmup: int
    timed: int
    generator_batches: int
    n_test: int
    n_mean: int
    texture_bank: int
    background_bank: int
    max_train_steps: int  # 0: as many as the time allows


FULL = Setting("resnet50", 128, 224, 128, 56, None, "bf16", 5, 20, 10, 256, 512, 64, 64, 0)
SMOKE = Setting("resnet18", 4, 64, 64, 16, 16, "off", 1, 2, 2, 4, 8, 2, 2, 4)


class Summary:
    """``OUTDIR/summary.json``, rewritten after every step."""

    def __init__(self, path: Path, **fields) -> None:
        self.path = path
        self.data: dict = dict(fields)

    def set(self, key: str, value) -> None:
        self.data[key] = value
        from uvkit.atomic import write_text

        write_text(self.path, json.dumps(self.data, indent=2, default=str) + "\n")


def train_overrides(setting: Setting, uv: str, device: str, out: Path) -> list[str]:
    values = [
        f"model.uv_map={uv}", f"model.backbone={setting.backbone}", f"model.input_size={setting.size}",
        f"model.resolution={setting.resolution}", f"model.transfer_resolution={setting.transfer}",
        f"data.batch_size={setting.batch}", "data.source=ondevice", "data.workers=0",
        f"data.texture_bank={setting.texture_bank}", f"data.background_bank={setting.background_bank}",
        "data.sub_batches=1",  # on a GPU one large batch; sub-batches pay off in CPU threads
        f"run.device={device}", f"run.amp={setting.amp}", "run.image_every=0", "run.tensorboard=false",
        f"run.out_dir={out}",
    ]
    if setting.lnet_channels:
        values.append(f"model.lnet_channels={setting.lnet_channels}")
    return values


def run_tests(device: str, budget: float) -> dict:
    """The CUDA-parametrised tests (they skip without CUDA)."""
    files = ["tests/test_render.py", "tests/test_models.py", "tests/test_uv_torch.py", "tests/test_data_ondevice.py"]
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", "cuda", *files]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=max(10.0, budget))
        status, tail = done.returncode, (done.stdout + done.stderr).strip().splitlines()[-3:]
    except subprocess.TimeoutExpired:
        status, tail = "timeout", []
    for line in tail:
        log.info("tests: %s", line)
    return {"status": status, "passed": status in (0, 5), "summary": tail[-1] if tail else "",
            "seconds": time.perf_counter() - started}


def measure_generator(setting: Setting, uv: str, device: str) -> dict:
    """Samples/s of the on-device generator alone at the training batch."""
    import torch

    from decomr.data.augment import AugmentConfig
    from decomr.data.ondevice import OnDeviceConfig, OnDeviceSynthetic
    from decomr.data.synthetic import SyntheticConfig

    started = time.perf_counter()
    engine = OnDeviceSynthetic(SyntheticConfig(size=setting.size), uvmap=uv, augment=AugmentConfig(),
                               options=OnDeviceConfig(texture_bank=setting.texture_bank,
                                                      background_bank=setting.background_bank, sub_batches=1),
                               device=device)
    ready = time.perf_counter() - started
    sync = torch.cuda.synchronize if engine.device.type == "cuda" else (lambda: None)
    engine.batch(list(range(setting.batch)))
    sync()
    start = time.perf_counter()
    for k in range(setting.generator_batches):
        engine.batch(list(range((k + 1) * setting.batch, (k + 2) * setting.batch)))
    sync()
    elapsed = time.perf_counter() - start
    rate = setting.generator_batches * setting.batch / elapsed
    log.info("generator: %.0f samples/s at batch %d, %d px (start-up %.1f s)", rate, setting.batch, setting.size, ready)
    return {"samples_per_s": rate, "batch": setting.batch, "size": setting.size, "startup_s": ready}


class _RepeatedBatch:
    """One batch made on the device, served again and again (the model's own speed)."""

    makes_batches = True

    def __init__(self, batch: dict, length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {key: value[index % len(value)] for key, value in self.batch.items()}

    def set_epoch(self, epoch: int) -> None:
        pass

    def batches(self, index_lists):
        for _ in index_lists:
            yield self.batch


def _timed_steps(config, dataset, warmup: int) -> dict:
    """Run the trainer; seconds per step after ``warmup`` steps (the loss is read every step,
    which waits for the device)."""
    from decomr.train import Trainer

    trainer = Trainer(config, dataset)
    trainer.save = lambda *args, **kwargs: None  # time the steps, not checkpoint writes
    stamps: list[float] = []
    trainer.run([lambda info: stamps.append(time.perf_counter())])
    trainer.close()
    steps = stamps[warmup:]
    seconds = (steps[-1] - steps[0]) / max(1, len(steps) - 1)
    return {"seconds_per_step": seconds, "images_per_s": config.data.batch_size / seconds, "steps": len(steps) - 1}


def measure_throughput(setting: Setting, uv: str, device: str, out: Path) -> dict:
    """Training img/s with the on-device generator feeding, and on one batch held on the device."""
    from decomr.config import load_config
    from decomr.data.ondevice import OnDevicePeople

    total = setting.warmup + setting.timed + 1
    overrides = train_overrides(setting, uv, device, out) + [
        f"data.samples_per_epoch={setting.batch * total}", "optim.stage1_epochs=0", "optim.stage2_epochs=1",
        "run.stage=2", "run.log_every=1000000", "run.checkpoint_every=0", f"run.max_steps={total}",
        "optim.mean_location_samples=0"]
    config = load_config(None, overrides)
    fed = _timed_steps(config, None, setting.warmup)
    log.info("training, fed by the on-device generator: %.1f img/s (%.3f s/step, batch %d, %s, amp %s)",
             fed["images_per_s"], fed["seconds_per_step"], setting.batch, setting.backbone, setting.amp)
    from decomr.train import build_dataset
    from uvkit.template import load_template

    people = build_dataset(config, load_template("open"), 0, True, device)
    assert isinstance(people, OnDevicePeople)
    fixed = _RepeatedBatch(people.engine.batch(list(range(setting.batch))), setting.batch * total)
    held = _timed_steps(config, fixed, setting.warmup)
    busy = held["seconds_per_step"] / fed["seconds_per_step"]
    log.info("training on one batch held on the device: %.1f img/s; the model's share of a fed step "
             "(GPU busy): %.0f%%", held["images_per_s"], 100.0 * busy)
    return {"fed_by_generator": fed, "batch_on_device": held, "model_share_of_step": busy}


class _TimeGuard:
    """A trainer callback that stops the run (with a checkpoint) once ``deadline`` has passed."""

    def __init__(self, deadline: float, max_steps: int = 0) -> None:
        self.deadline, self.max_steps, self.steps = deadline, max_steps, 0
        self.losses: list[tuple[int, float]] = []

    def __call__(self, info) -> None:
        from decomr.train import StopTraining

        self.steps += 1
        self.losses.append((info.progress.global_step, info.loss))
        if time.perf_counter() >= self.deadline or (self.max_steps and self.steps >= self.max_steps):
            raise StopTraining()


def train(setting: Setting, uv: str, device: str, out: Path, seconds: float, images_per_s: float) -> dict:
    """Stage 1 then stage 2 on on-device people for ``seconds``; returns the run's facts."""
    from decomr.config import load_config
    from decomr.train import Trainer

    expected = max(2, int(seconds * images_per_s / setting.batch))
    if setting.max_train_steps:
        expected = min(expected, setting.max_train_steps)
    stage1 = max(1, expected // 5)  # a fifth of the steps for CNet alone, then end to end
    stage2_epochs = max(1, math.ceil((expected - stage1) / stage1))
    overrides = train_overrides(setting, uv, device, out) + [
        f"data.samples_per_epoch={setting.batch * stage1}", "optim.stage1_epochs=1",
        f"optim.stage2_epochs={stage2_epochs}", "run.stage=both", "run.log_every=25",
        "run.checkpoint_every=500"]
    config = load_config(None, overrides)
    started = time.perf_counter()
    trainer = Trainer(config)
    guard = _TimeGuard(started + seconds, setting.max_train_steps)
    result = trainer.run([guard])
    trainer.close()
    elapsed = time.perf_counter() - started
    checkpoint = result.last_checkpoint
    log.info("trained %d steps (%s) in %.0f s; checkpoint %s", result.progress.global_step, result.status, elapsed,
             checkpoint)
    return {"status": result.status, "steps": result.progress.global_step, "seconds": elapsed,
            "images": result.progress.global_step * setting.batch, "checkpoint": str(checkpoint),
            "stage1_steps": stage1, "planned_steps": expected,
            "loss_first": guard.losses[0][1] if guard.losses else None,
            "loss_last": guard.losses[-1][1] if guard.losses else None}


def evaluate(setting: Setting, uv: str, device: str, checkpoint: Path, out: Path) -> dict:
    """The checkpoint and the mean body on held-out synthetic people (``decomr.evaluate``)."""
    import torch

    from decomr.body import BodyModel
    from decomr.checkpoint import load_model
    from decomr.data.synthetic import SyntheticConfig, SyntheticPeople
    from decomr.evaluate import evaluate_model, mean_body
    from uvkit.template import load_template

    template = load_template("open")
    body = BodyModel(template)
    test = SyntheticPeople(SyntheticConfig(size=setting.size, length=setting.n_test, seed=TEST_SEED), uvmap=uv,
                           template=template, body=body)
    workers = min(8, max(0, (os.cpu_count() or 1) - 1)) if device.startswith("cuda") else 0
    loader = torch.utils.data.DataLoader(test, batch_size=16, num_workers=workers)
    model, _ = load_model(checkpoint, device=device)
    results = evaluate_model(model, loader, body, uv_lookup=model.uv_lookup, device=device)
    results.summary["checkpoint"] = str(checkpoint)
    results.write(out / "eval")
    train_people = SyntheticPeople(SyntheticConfig(size=setting.size, length=setting.n_mean, seed=0), uvmap=uv,
                                   template=template, body=body)
    baseline = mean_body(train_people, body)
    mean_results = evaluate_model(baseline, loader, body, device="cpu")
    mean_results.summary["mean_of"] = f"{setting.n_mean} people of the training distribution (seed 0)"
    mean_results.write(out / "eval_mean_body")
    keys = ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")

    def means(summary: dict) -> dict:
        return {k: (v.get("mean") if isinstance(v, dict) else v) for k, v in ((k, summary.get(k)) for k in keys)}

    ours, mean = means(results.summary), means(mean_results.summary)
    log.info("evaluation on %d held-out people: %s; mean body: %s", setting.n_test, ours, mean)
    return {"model": ours, "mean_body": mean, "n_test": setting.n_test}


def markdown(data: dict) -> str:
    """The summary's numbers as a Markdown table (what is missing reads 'not measured')."""
    def get(*keys, digits: int = 1, scale: float = 1.0):
        value = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return "not measured" if value is None else f"{scale * float(value):.{digits}f}"

    setting = data.get("setting", {})
    rows = [
        ("device", str(data.get("gpu") or data.get("device"))),
        ("torch", str(data.get("torch"))),
        ("CUDA tests", str(data.get("tests", {}).get("summary", "not run"))),
        (f"on-device synthetic people, batch {setting.get('batch')}, {setting.get('size')} px (samples/s)",
         get("generator", "samples_per_s", digits=0)),
        (f"training img/s, {setting.get('backbone')}, batch {setting.get('batch')}, amp {setting.get('amp')}, "
         "fed by the generator", get("throughput", "fed_by_generator", "images_per_s")),
        ("training img/s on one batch held on the device", get("throughput", "batch_on_device", "images_per_s")),
        ("model's share of a fed step (GPU busy, %)", get("throughput", "model_share_of_step", digits=0, scale=100)),
        ("training steps (images) in the time left", f"{get('train', 'steps', digits=0)} "
                                                     f"({get('train', 'images', digits=0)})"),
        ("PVE / MPJPE / PA-MPJPE of the run (mm)", " / ".join(get("eval", "model", k) for k in
                                                              ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm"))),
        ("the same for the mean body (mm)", " / ".join(get("eval", "mean_body", k) for k in
                                                       ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm"))),
        ("wall time (s)", get("wall_s", digits=0)),
    ]
    return "| | value |\n|---|---|\n" + "".join(f"| {name} | {value} |\n" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: every step in seconds (for tests)")
    parser.add_argument("--budget", type=float, default=510.0, help="wall-clock seconds for the whole run")
    parser.add_argument("--uv", default=str(ROOT / "assets" / "open_body_uv.npz"), help="UV map file")
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args(argv)
    from decomr.cpu_memory import keep_freed_memory

    keep_freed_memory()
    started = time.perf_counter()
    deadline = started + args.budget
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(args.out / "gpu_run.log")])
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        log.error("CUDA is not available on this machine: run with --device cpu --smoke to check the steps")
        return 2
    setting = SMOKE if args.smoke else FULL
    summary = Summary(args.out / "summary.json", device=args.device, smoke=args.smoke, torch=torch.__version__,
                      gpu=torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
                      setting=setting.__dict__, budget_s=args.budget)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    # seconds kept back for the evaluation and the final writes
    reserve = 25.0 if args.smoke else 75.0
    status = 0
    if not args.skip_tests:
        tests = run_tests(args.device, budget=min(150.0, deadline - time.perf_counter() - reserve - 120.0))
        summary.set("tests", tests)
        status = 0 if tests["passed"] else 1
    summary.set("generator", measure_generator(setting, args.uv, args.device))
    throughput = measure_throughput(setting, args.uv, args.device, args.out / "throughput")
    summary.set("throughput", throughput)
    seconds = max(1.0, deadline - time.perf_counter() - reserve)
    trained = train(setting, args.uv, args.device, args.out / "train", seconds,
                    throughput["fed_by_generator"]["images_per_s"])
    summary.set("train", trained)
    if trained["checkpoint"] and trained["checkpoint"] != "None":
        summary.set("eval", evaluate(setting, args.uv, args.device, Path(trained["checkpoint"]), args.out))
    summary.set("wall_s", time.perf_counter() - started)
    from uvkit.atomic import write_text

    write_text(args.out / "summary.md", markdown(summary.data))
    log.info("done in %.0f s; summary in %s", time.perf_counter() - started, args.out / "summary.json")
    return status


if __name__ == "__main__":
    sys.exit(main())
