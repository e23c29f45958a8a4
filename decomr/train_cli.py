"""``decomr-train``: train DecoMR from a YAML config and ``key.sub=value`` overrides.

Examples::

    decomr-train model.uv_map=open_uv.npz model.backbone=resnet18 data.batch_size=16 run.out_dir=runs/cpu
    decomr-train --config run.yaml --stage 1
    decomr-train --config run.yaml --resume            # continue runs/.../checkpoints/last.pt
    torchrun --nproc_per_node 8 -m decomr.train_cli --config run.yaml

Exit status: 0 finished (or stopped at run.max_steps), 2 bad config or arguments, 3 a
non-finite loss stopped the run (the last good checkpoint is kept), 130 / 143 stopped by Ctrl-C /
SIGTERM (a single-process run then finishes its step and writes ``last.pt``: nothing is lost;
a second Ctrl-C aborts at once), 1 any other error.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from decomr.config import STAGES, ConfigError, config_to_yaml, load_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="decomr-train", description="Train DecoMR (stage 1: CNet alone; stage 2: end to end).",
        epilog="Overrides: any config key as key.sub=value, e.g. model.backbone=resnet18 run.amp=off "
               "data.batch_size=16. See docs/training.md for every key.")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides, applied last")
    parser.add_argument("--config", "-c", help="YAML config file (sections model, data, optim, run)")
    parser.add_argument("--stage", choices=STAGES, help="shortcut for run.stage")
    parser.add_argument("--out", help="shortcut for run.out_dir")
    parser.add_argument("--uv", help="shortcut for model.uv_map")
    parser.add_argument("--resume", nargs="?", const="last", default=None, metavar="CHECKPOINT",
                        help="continue where a run stopped (default: OUT/checkpoints/last.pt)")
    parser.add_argument("--max-steps", type=int, help="shortcut for run.max_steps")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (log lines only); also the default when the error stream is not a "
                             "terminal (a log file gets the log lines, not a redrawn bar)")
    return parser


class _StopOnSignal:
    """Ctrl-C / SIGTERM: finish the current step, write ``last.pt``, stop; a second signal aborts.

    Installed for single-process runs only (the processes of a distributed run would stop at
    different steps). :meth:`check` is a step callback.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}

    def _handle(self, number, frame) -> None:
        self.received = number
        signal.signal(number, self.previous[number])     # a second one acts at once
        logging.getLogger("decomr.train").warning(
            "%s: stopping after this step and writing the checkpoint (again to abort at once)",
            signal.Signals(number).name)

    def check(self, info) -> None:
        from decomr.train import StopTraining

        if self.received is not None:
            raise StopTraining

    def restore(self) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = []
    for key, value in (("run.stage", args.stage), ("run.out_dir", args.out), ("model.uv_map", args.uv),
                       ("run.resume", args.resume), ("run.max_steps", args.max_steps)):
        if value is not None:
            overrides.append(f"{key}={value}")
    try:
        config = load_config(args.config, overrides + list(args.overrides))
    except ConfigError as error:
        print(f"decomr-train: error: {error}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(config_to_yaml(config))
        return 0
    from decomr.cpu_memory import keep_freed_memory

    keep_freed_memory()  # batches of the same sizes reuse freed memory (no fresh page faults)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(levelname)s %(message)s" if rank or
                        int(os.environ.get("WORLD_SIZE", "1")) > 1 else "%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")

    from decomr.checkpoint import CheckpointError
    from decomr.train import Trainer, TrainError

    try:
        trainer = Trainer(config)
    except (TrainError, CheckpointError, ValueError, OSError) as error:
        print(f"decomr-train: error: {error}", file=sys.stderr)
        return 1
    stopper = _StopOnSignal() if int(os.environ.get("WORLD_SIZE", "1")) == 1 else None
    try:
        callbacks = [stopper.check] if stopper is not None else []
        bar = None
        if rank == 0 and not args.no_progress and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=trainer.total_steps, initial=trainer.progress.global_step, unit="step",
                       dynamic_ncols=True, desc="train")

            def advance(info) -> None:
                bar.update(1)
                bar.set_postfix(stage=info.progress.stage, epoch=info.progress.epoch, loss=f"{info.loss:.4f}",
                                refresh=False)

            callbacks.append(advance)
        if bar is not None:
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm():
                result = trainer.run(callbacks)
            bar.close()
        else:
            result = trainer.run(callbacks)
    except (TrainError, CheckpointError) as error:
        print(f"decomr-train: error: {error}", file=sys.stderr)
        return 1
    finally:
        trainer.close()
        if stopper is not None:
            stopper.restore()
    if rank == 0:
        logging.getLogger("decomr.train").info("%s after %d steps; last checkpoint: %s", result.status,
                                               result.progress.global_step, result.last_checkpoint)
    if stopper is not None and stopper.received is not None and result.status == "stopped":
        return 128 + int(stopper.received)
    return 3 if result.status == "non-finite" else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
