"""Every training knob in one place, with units. Stored in each run's config.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from convnet.errors import ConfigError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
AMP_MODES = ("auto", "bf16", "fp16", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainConfig:
    # what to train on what
    model: str = "convnet"            # registry name or architecture notation
    data: str = "digits"              # digits | mnist | fashion-mnist | image folder
    data_dir: str | None = None       # folder with IDX files (else download to cache)
    input_size: int | None = None     # square input side in pixels (None: the model's default)
    model_kwargs: dict | None = None  # keyword arguments for the model builder (e.g. widths, kernel)
    val_fraction: float = 0.0         # share of train held out for validation (folders: 0.2)
    # how long and how fast
    epochs: int = 8
    batch_size: int = 256             # images per step
    lr: float | None = None           # peak learning rate (None: 0.05 for sgd, 3e-3 for adamw)
    optimizer: str = "sgd"            # sgd (Nesterov momentum) | adamw
    momentum: float = 0.9
    weight_decay: float = 5e-4        # L2 on conv/linear weights (not biases or norms)
    schedule: str = "onecycle"        # onecycle | cosine | constant
    warmup: float = 0.2               # fraction of steps rising to the peak lr (onecycle, cosine)
    label_smoothing: float = 0.1
    # augmentation, applied per batch
    crop_padding: int = 2             # random-crop shift in pixels (0: off)
    hflip: bool | None = None         # random horizontal flip (None: if the data set allows)
    # hardware
    device: str = "auto"              # auto | cpu | cuda | mps
    amp: str = "auto"                 # auto | bf16 | fp16 | off (auto: bf16 on AMX CPUs / CUDA)
    channels_last: bool = True        # NHWC memory layout for convolutions
    threads: int | None = None        # CPU threads (None: torch's default)
    # bookkeeping
    seed: int = 0
    out: str | None = None            # run directory (None: runs/<model>-<data>-<time>)
    progress: bool = True             # progress bars

    def __post_init__(self):
        self.validate()

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else (0.05 if self.optimizer == "sgd" else 3e-3)

    def validate(self) -> None:
        def need(ok: bool, message: str):
            if not ok:
                raise ConfigError(message)

        need(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1,
             f"batch size must be at least 1, got {self.batch_size}")
        need(self.lr is None or self.lr > 0, f"learning rate must be greater than 0, got {self.lr}")
        need(self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r} (choose {', '.join(OPTIMIZERS)})")
        need(self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r} (choose {', '.join(SCHEDULES)})")
        need(self.amp in AMP_MODES, f"unknown amp mode {self.amp!r} (choose {', '.join(AMP_MODES)})")
        need(self.device in DEVICES or self.device.startswith("cuda:"),
             f"unknown device {self.device!r} (choose {', '.join(DEVICES)})")
        need(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}")
        need(self.weight_decay >= 0, f"weight decay must not be negative, got {self.weight_decay}")
        need(0 <= self.label_smoothing < 1, f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        need(0 <= self.warmup < 1, f"warmup must be in [0, 1), got {self.warmup}")
        need(0 <= self.val_fraction < 1, f"validation fraction must be in [0, 1), got {self.val_fraction}")
        need(isinstance(self.crop_padding, int) and self.crop_padding >= 0,
             f"crop padding must be a whole number >= 0, got {self.crop_padding}")
        need(self.input_size is None or 8 <= self.input_size <= 1024,
             f"input size must be between 8 and 1024 pixels, got {self.input_size}")
        need(self.threads is None or self.threads >= 1, f"threads must be at least 1, got {self.threads}")
        need(self.model_kwargs is None or isinstance(self.model_kwargs, dict),
             f"model_kwargs must be a mapping of builder arguments, got {self.model_kwargs!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**d)


def model_training_defaults(model: str) -> dict:
    """The TrainConfig values registered with `model` (e.g. CapsNet's Adam at lr 1e-3), which take
    the place of the project's defaults for that model; {} for notation and most models."""
    from convnet.models import get_spec

    return dict(get_spec(model).training)


def config_for_model(**options) -> TrainConfig:
    """TrainConfig(**options) with the model's own defaults under the options given."""
    model = options.get("model", TrainConfig.model)
    return TrainConfig(**{**model_training_defaults(model), **options})
