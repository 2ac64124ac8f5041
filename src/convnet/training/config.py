"""Every training knob in one place, with units. Stored in each run's config.json.

Each field carries its command-line help and value type (`option(...)`, settings.py): `convnet train`'s
flags are generated from these fields (cli/fields.py), `--config FILE.yaml` is checked
against them, and `validate` holds the rules, so an option is declared exactly once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

from convnet.errors import ConfigError
from convnet.settings import option

OPTIMIZERS = ("sgd", "adamw", "adam")
SCHEDULES = ("onecycle", "cosine", "constant")
AMP_MODES = ("auto", "bf16", "fp16", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")
ENGINES = ("torch", "reference")


@dataclass
class TrainConfig:
    # what to train on what
    model: str = option("convnet", "registered name (see `convnet models`) or architecture notation")
    data: str = option("digits", "digits (embedded, offline), mnist, fashion-mnist, an image folder (one "
                       "sub-folder per class), or another task's data (see `convnet tasks`)", metavar="NAME|DIR")
    data_dir: str | None = option(None, "folder with the data set's files (IDX for mnist/fashion-mnist); "
                                  "without it they are downloaded into $CONVNET_DATA or the user cache",
                                  metavar="DIR")
    task: str | None = option(None, "kind of work (see `convnet tasks`; default: the one --data implies)")
    input_size: int | None = option(None, "square input side in pixels (default: the model's)",
                                    kind="positive_int")
    model_kwargs: dict | None = option(None, "keyword arguments for the model builder", flag=False)
    val_fraction: float = option(0.0, "share of the training set held out for validation (folders: 0.2)",
                                 kind="fraction")
    # how long and how fast
    epochs: int = option(8, "passes over the training set", kind="positive_int")
    batch_size: int = option(256, "examples per step", kind="positive_int")
    lr: float | None = option(None, "peak learning rate (default: 0.05 for sgd, 3e-3 for adamw/adam)",
                              kind="positive_float")
    optimizer: str = option("sgd", "sgd (Nesterov momentum), adamw (decoupled decay) or adam (L2 decay)",
                            choices=OPTIMIZERS)
    momentum: float = option(0.9, "SGD momentum (Adam's beta1)", kind="fraction")
    weight_decay: float = option(5e-4, "L2 on conv/linear weights (not biases or norms)",
                                 kind="non_negative_float")
    schedule: str = option("onecycle", "learning-rate schedule, stepped per batch", choices=SCHEDULES)
    warmup: float = option(0.2, "fraction of steps rising to the peak lr (onecycle, cosine)", kind="fraction")
    label_smoothing: float = option(0.1, "share of each target spread over the other classes", kind="fraction")
    # augmentation, applied per batch
    crop_padding: int = option(2, "random-crop shift in pixels (0: off)", kind="non_negative_int")
    hflip: bool | None = option(None, "random horizontal flips (default: where the data set allows)")
    mixup: float = option(0.0, "mixup: pairs of images blended with a Beta(a, a) weight (0: off)",
                          kind="non_negative_float", metavar="ALPHA")
    cutmix: float = option(0.0, "cutmix: a Beta(a, a)-sized patch pasted from another image (0: off)",
                           kind="non_negative_float", metavar="ALPHA")
    # unbalanced data
    class_weights: str | None = option(None, "auto: loss weighted by inverse class frequency",
                                       choices=("auto",))
    sampler: str = option("shuffle", "shuffle, or balanced: every class drawn equally often",
                          choices=("shuffle", "balanced"))
    # what is kept, and when to stop
    patience: int | None = option(None, "stop after N epochs without improvement of the validation "
                                  "metric (needs a validation split)", kind="positive_int", metavar="N")
    min_delta: float = option(0.0, "smallest validation improvement that counts for --patience",
                              kind="non_negative_float")
    ema: float | None = option(None, "evaluate and save an exponential moving average of the weights "
                               "with this decay per step (e.g. 0.999)", kind="fraction", metavar="DECAY")
    time: float | None = option(None, "fit the run to a budget: as many epochs as the measured speed "
                                "allows in this many seconds of training", kind="positive_float",
                                metavar="SECONDS")
    # starting point
    init: str | None = option(None, "start from a trained run's weights (its head replaced when the "
                              "classes differ)", metavar="RUN_DIR")
    freeze: int = option(0, "with --init: the first N top-level blocks of the model are not trained",
                         kind="non_negative_int", metavar="N")
    body_lr_mult: float = option(1.0, "with --init: learning-rate factor for every layer but the head",
                                 kind="positive_float")
    log: str | None = option(None, "tensorboard: also write TensorBoard event files into RUN_DIR/tb",
                             choices=("tensorboard",))
    # what some tasks read (sound: split, test_speaker, audio; text: the columns, fine, folds, vectors)
    split: str | None = option(None, "sound: own (FSDD's indices 0-4 test), speaker (--test-speaker held out), "
                               "random, or all", choices=("own", "speaker", "random", "all"))
    test_speaker: str | None = option(None, "sound: the voice held out as the test split", metavar="NAME")
    test_fraction: float | None = option(None, "share held out for testing where a data set has no test "
                                         "split (sound 0.2, text 0.1)", kind="fraction")
    text_column: str | None = option(None, "text: the TSV/CSV column with the sentences", metavar="NAME")
    label_column: str | None = option(None, "text: the TSV/CSV column with the labels", metavar="NAME")
    fine: bool | None = option(None, "text: TREC's 50 fine classes instead of the 6 coarse ones")
    folds: int | None = option(None, "text: k-fold cross-validation (Kim's protocol: 10), this run "
                               "trains --fold", kind="positive_int", metavar="K")
    fold: int | None = option(None, "text: which fold of --folds is the test split (0-based)",
                              kind="non_negative_int")
    vectors: str | None = option(None, "text: word vectors (word2vec text/binary or GloVe text) for the "
                                 "embeddings", metavar="FILE")
    min_freq: int | None = option(None, "text: words seen fewer times are <unk> (default 1)",
                                  kind="positive_int")
    max_tokens: int | None = option(None, "text: longest sentence kept, in tokens (default 400)",
                                    kind="positive_int")
    audio: dict | None = option(None, "sound: feature and augmentation settings (see the audio task)",
                                flag=False)
    # hardware
    engine: str = option("torch", "torch, or reference: the NumPy engine of convnet.reference (SGD, CPU, "
                         "plain Sequential models)", choices=ENGINES)
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    amp: str = option("auto", "mixed precision (auto: bf16 on AMX CPUs and GPUs)", choices=AMP_MODES)
    channels_last: bool = option(True, "NHWC memory layout for convolutions")
    threads: int | None = option(None, "CPU threads (default: torch's)", kind="positive_int")
    # bookkeeping
    seed: int = option(0, "seed of the data order, augmentation and initialisation", kind="int")
    out: str | None = option(None, "run directory (default: runs/<model>-<data>-<time>)", metavar="RUN_DIR")
    progress: bool = option(True, "progress bars", negate="--no-progress")

    def __post_init__(self):
        self.validate()

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else (0.05 if self.optimizer == "sgd" else 3e-3)

    def validate(self) -> None:
        def need(ok: bool, message: str):
            if not ok:
                raise ConfigError(message)

        def number(name: str, low: float, high: float = math.inf, closed_high: bool = False):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
                and low <= v and (v <= high if closed_high else v < high)
            need(ok, f"{name.replace('_', ' ')} must be a finite number in [{low}, {high}"
                     f"{']' if closed_high else ')'}, got {v!r}")

        def whole(name: str, low: int, high: int | None = None):
            v = getattr(self, name)
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high)
            need(ok, f"{name.replace('_', ' ')} must be a whole number >= {low}"
                     f"{f' and <= {high}' if high else ''}, got {v!r}")

        whole("epochs", 1, 100_000)
        whole("batch_size", 1, 1 << 20)
        need(self.lr is None or isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0,
             f"learning rate must be a finite number greater than 0, got {self.lr!r}")
        for name, allowed in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("amp", AMP_MODES),
                              ("engine", ENGINES)):
            need(getattr(self, name) in allowed,
                 f"unknown {name} {getattr(self, name)!r} (choose {', '.join(allowed)})")
        need(isinstance(self.device, str) and (self.device in DEVICES or self.device.startswith("cuda:")),
             f"unknown device {self.device!r} (choose {', '.join(DEVICES)} or cuda:N)")
        number("momentum", 0, 1)
        number("weight_decay", 0)
        number("label_smoothing", 0, 1)
        number("warmup", 0, 1)
        number("val_fraction", 0, 1)
        whole("crop_padding", 0, 64)
        whole("seed", 0, 2**63 - 1)
        need(self.input_size is None or isinstance(self.input_size, int) and 8 <= self.input_size <= 1024,
             f"input size must be between 8 and 1024 pixels, got {self.input_size}")
        need(self.threads is None or isinstance(self.threads, int) and 1 <= self.threads <= 1024,
             f"threads must be between 1 and 1024, got {self.threads}")
        number("mixup", 0, 100)
        number("cutmix", 0, 100)
        number("min_delta", 0)
        number("body_lr_mult", 0, 1, closed_high=True)
        need(self.body_lr_mult > 0, f"body lr mult must be greater than 0, got {self.body_lr_mult}")
        need(self.ema is None or isinstance(self.ema, float) and 0 < self.ema < 1,
             f"ema decay must be in (0, 1), got {self.ema!r}")
        need(self.time is None or isinstance(self.time, (int, float)) and math.isfinite(self.time)
             and self.time > 0, f"time must be a number of seconds above 0, got {self.time!r}")
        need(self.patience is None or isinstance(self.patience, int) and self.patience >= 1,
             f"patience must be at least 1 epoch, got {self.patience!r}")
        whole("freeze", 0, 1000)
        need(self.class_weights in (None, "auto"), f"class weights must be auto or null, got {self.class_weights!r}")
        need(self.sampler in ("shuffle", "balanced"), f"unknown sampler {self.sampler!r} (choose shuffle, balanced)")
        need(self.log in (None, "tensorboard"), f"unknown log {self.log!r} (choose tensorboard)")
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


# The NumPy engine's own defaults: plain SGD on small batches (LeNet-5 on mnist-10k: 97.5% test
# in 8 epochs at batch 64 and lr 0.1; 91% at the torch engine's batch 256 and lr 0.05).
ENGINE_DEFAULTS = {"reference": {"batch_size": 64, "lr": 0.1}}


def resolve_options(given: dict, file_values: dict | None = None) -> tuple[TrainConfig, dict]:
    """The one place options meet defaults, for the CLI, the Python API and `tune`: a value given
    wins, then the --config file's, then the model's registered training defaults, then the
    engine's, then the project's (TrainConfig's). Returns (config, the model's and engine's
    defaults that were used)."""
    chosen = {**(file_values or {}), **given}
    if "model" not in chosen:             # a task's own default model (the graph task's gcn)
        own_model = _task_default_model(chosen)
        if own_model:
            chosen["model"] = own_model
    model = chosen.get("model", TrainConfig.model)
    registered = {**ENGINE_DEFAULTS.get(chosen.get("engine", TrainConfig.engine), {}),
                  **model_training_defaults(model)}
    own = {k: v for k, v in registered.items() if k not in chosen}
    return TrainConfig.from_dict({**own, **chosen}), own


def _task_default_model(chosen: dict) -> str | None:
    from convnet.tasks import task_for

    task = task_for(chosen.get("data", TrainConfig.data), chosen.get("data_dir"), chosen.get("task"))
    return getattr(task, "default_model", None)


def config_for_model(**options) -> TrainConfig:
    """TrainConfig(**options) with the model's own defaults under the options given."""
    return resolve_options(options)[0]
