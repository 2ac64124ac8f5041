"""TensorBoard event files for a run (`--log tensorboard`): RUN_DIR/tb/, read by `tensorboard
--logdir RUN_DIR/tb` or any reader of the format. Scalars: train/loss and train/lr every 10 steps;
per epoch every figure of the metrics line (train/val/test loss and metric, items/s). The
pictures (confusion matrix, wrong images) are added after training by visualize/artifacts.py.
Needs the `tensorboard` package (the `tensorboard` extra)."""

from __future__ import annotations

from pathlib import Path

from convnet.errors import ConfigError

FOLDER = "tb"


def writer(run_dir: Path, purge_step: int | None = None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("--log tensorboard needs the tensorboard package: "
                          "pip install 'convnet[tensorboard]'") from None
    # purge_step: a resumed run drops the events of the steps it trains again
    return SummaryWriter(log_dir=str(Path(run_dir) / FOLDER), purge_step=purge_step or None)


class Board:
    def __init__(self, run_dir: Path, first_step: int = 0):
        self.w = writer(run_dir, first_step)

    def step(self, step: int, loss: float, lr: float) -> None:
        self.w.add_scalar("train/loss_step", loss, step)
        self.w.add_scalar("train/lr", lr, step)

    def epoch(self, record: dict, epoch: int) -> None:
        for key, value in record.items():
            if key in ("epoch", "seconds") or not isinstance(value, (int, float)):
                continue
            split, _, name = key.partition("_")
            tag = f"{split}/{name}" if split in ("train", "val", "test") else f"speed/{key}" if "per_second" in key else key
            self.w.add_scalar(tag, value, epoch)

    def close(self) -> None:
        self.w.flush()
        self.w.close()
