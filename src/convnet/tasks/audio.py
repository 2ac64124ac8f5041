"""Sound classification: clips in, a log-mel spectrogram, a 2-D CNN or a TDNN over it.

    data     --data fsdd --data-dir DIR (the FSDD layout) or --data DIR (FSDD names or class
             sub-folders of .wav/.flac/.ogg) -> waveforms [N, L] at the feature rate and length
    model    any zoo model: a 2-D CNN takes the spectrogram as a 1-channel image [B, 1, F, T];
             the TDNN (models/tdnn.py) convolves over its frames
    batches  training: waveforms shifted, scaled and noised, then spectrograms, normalised, then
             SpecAugment masks, all per batch from one seeded generator; evaluation: the clean
             spectrograms, computed once per split
    metric   accuracy (per-class recall, precision and the confusion matrix in results.json)

config.json entries besides "train": "model" {name, num_classes, in_channels: 1, kwargs},
"classes", "data" (folder, layout, split), "features" (audio.features.FeatureConfig),
"augment" (audio.augment.AugmentConfig), "normalize" {mean, std} of the training spectrograms
in dB (after the per-clip band means are removed), "input" [1, F, T]. TrainConfig fields read here with getattr (defaults in OPTIONS):
split (own | speaker | random | all), test_speaker, test_fraction, audio (a dict of
FeatureConfig and AugmentConfig fields that replace their defaults)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

from convnet.errors import ConfigError, DataError
from convnet.tasks.base import Tally, Task, option_value

OPTIONS = {"split": None, "test_speaker": None, "test_fraction": 0.2, "audio": None}
EVAL_BATCH = 500


def option(cfg, name: str):
    return option_value(cfg, name, OPTIONS)


def data_path(data: str, data_dir: str | None) -> Path | None:
    """The folder `--data`/`--data-dir` point at: DATA itself if it is a folder, else DATA_DIR."""
    if data and Path(data).is_dir():
        return Path(data)
    return Path(data_dir) if data_dir else None


def audio_settings(cfg):
    """(FeatureConfig, AugmentConfig) of a new run: their defaults, replaced by cfg.audio."""
    from dataclasses import fields

    from convnet.audio.augment import AugmentConfig
    from convnet.audio.features import FeatureConfig

    given = dict(option(cfg, "audio") or {})
    if not isinstance(option(cfg, "audio") or {}, dict):
        raise ConfigError(f"audio options must be a mapping, got {option(cfg, 'audio')!r}")
    feature_names = {f.name for f in fields(FeatureConfig)}
    augment_names = {f.name for f in fields(AugmentConfig)}
    unknown = sorted(set(given) - feature_names - augment_names)
    if unknown:
        raise ConfigError(f"unknown audio option(s): {', '.join(unknown)} (known: "
                          f"{', '.join(sorted(feature_names | augment_names))})")
    fc = FeatureConfig.from_dict({k: v for k, v in given.items() if k in feature_names})
    aug = AugmentConfig.from_dict({k: v for k, v in given.items() if k in augment_names})
    return fc, aug


class AudioClassification(Task):
    name = "audio"
    help = "sound classification from log-mel spectrograms: FSDD spoken digits or class folders of WAV files"
    metric = "accuracy"
    item = "clips"

    @classmethod
    def claims(cls, data: str, data_dir: str | None) -> bool:
        from convnet.audio.datasets import fsdd_folder, has_class_folders

        if data and data.lower() == "fsdd":
            return True
        path = data_path(data, data_dir)
        try:
            return path is not None and (fsdd_folder(path) is not None or has_class_folders(path))
        except OSError:
            return False

    # -- data -------------------------------------------------------------------------------
    def load_data(self, cfg, saved: dict | None = None):
        """A new run's data from cfg; a saved run's (resume, eval) with its own features, classes
        and split, unless cfg names another folder or split (eval --data DIR --split all)."""
        from convnet.audio.augment import AugmentConfig
        from convnet.audio.datasets import load_audio_data
        from convnet.audio.features import FeatureConfig

        data, data_dir = getattr(cfg, "data", None), getattr(cfg, "data_dir", None)
        if saved is not None:
            src = saved.get("data") or {}
            if src.get("kind") != "audio" or "features" not in saved:
                raise DataError("config.json is not that of an audio run (no \"features\" entry)")
            fc, aug = FeatureConfig.from_dict(saved["features"]), AugmentConfig.from_dict(saved.get("augment"))
            path = data_path(data, data_dir) if data and data.lower() != "fsdd" or data_dir else None
            path = path or Path(src["path"])
            # another folder than the run's (eval --data DIR): every clip of it is test
            same = _same_folder(path, src["path"])
            split = option(cfg, "split") or (src.get("split") if same else "all")
            ds = load_audio_data(path, fc, split=split,
                                 test_speaker=option(cfg, "test_speaker") or src.get("test_speaker"),
                                 test_fraction=src.get("test_fraction") or option(cfg, "test_fraction"),
                                 val_fraction=src.get("val_fraction", 0.0) if split != "all" else 0.0,
                                 seed=src.get("seed", 0), classes=list(saved["classes"]))
        else:
            fc, aug = audio_settings(cfg)
            path = data_path(data, data_dir)
            if path is None:
                what = "--data fsdd needs --data-dir" if data and data.lower() == "fsdd" else f"--data {data}:"
                raise DataError(f"{what} a folder of sound files (FSDD {{label}}_{{speaker}}_{{index}}.wav "
                                "names, or class sub-folders)")
            ds = load_audio_data(path, fc, split=option(cfg, "split"), test_speaker=option(cfg, "test_speaker"),
                                 test_fraction=float(option(cfg, "test_fraction")),
                                 val_fraction=float(getattr(cfg, "val_fraction", 0.0) or 0.0),
                                 seed=getattr(cfg, "seed", 0))
        ds.features, ds.augment = fc, aug
        return ds

    def describe_run(self, cfg, ds) -> dict:
        from convnet.models import get_spec

        fc = ds.features
        spec = get_spec(cfg.model)
        if spec.fixed_size and tuple(spec.input_size) != fc.shape:
            raise ConfigError(f"model {spec.name} needs {spec.input_size[0]}x{spec.input_size[1]} input, not the "
                              f"{fc.shape[0]}x{fc.shape[1]} spectrogram ({fc.describe()}); choose a model with "
                              "global pooling (convnet, resnet20, tdnn, ...)")
        kwargs = dict(cfg.model_kwargs or {})
        if "input_size" in inspect.signature(spec.builder).parameters:
            kwargs.setdefault("input_size", list(fc.shape))      # the TDNN sizes its first layer by it
        mean, std = spectrogram_stats(ds.train, fc)
        return {"model": {"name": cfg.model, "num_classes": len(ds.classes), "in_channels": 1,
                          **({"kwargs": kwargs} if kwargs else {})},
                "classes": ds.classes, "data": ds.source, "features": fc.to_dict(),
                "augment": ds.augment.to_dict(), "normalize": {"mean": mean, "std": std},
                "input": [1, *fc.shape]}

    def summary_line(self, cfg, ds, config: dict) -> str:
        from convnet.audio.features import FeatureConfig

        fc = FeatureConfig.from_dict(config["features"])
        line = super().summary_line(cfg, ds, config) + f", {fc.describe()}"
        if ds.source.get("split") == "speaker":
            line += f", test speaker {ds.source['test_speaker']}"
        return line

    # -- steps ------------------------------------------------------------------------------
    def batches(self, split, config: dict, cfg, hw, *, train: bool, seed: int):
        return AudioBatches(split, config, cfg.batch_size if train else EVAL_BATCH, hw, train=train, seed=seed)

    def loss(self, model, batch, cfg):
        import torch.nn.functional as F

        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=getattr(cfg, "label_smoothing", 0.0))
        return loss, Tally(len(y), (logits.argmax(1) == y).sum())

    # -- measuring --------------------------------------------------------------------------
    def evaluate(self, model, split, config: dict, hw, *, final: bool = False):
        import torch

        from convnet.tasks.metrics import Tally as ConfusionTally

        model.eval()
        tally = ConfusionTally(len(config["classes"]), keep_probabilities=final)
        with torch.no_grad():
            for x, y in AudioBatches(split, config, EVAL_BATCH, hw, train=False, seed=0):
                with hw.autocast():
                    logits = model(x)
                tally.add(logits.float(), y)
        return tally.result(len(split))

    # -- using a trained run ----------------------------------------------------------------
    def predict(self, model, config: dict, hw, inputs: list[str], top: int = 3) -> list[dict]:
        """Each input is the path of a sound file (WAV, or FLAC/OGG with soundfile)."""
        import torch

        from convnet.audio.datasets import read_clip
        from convnet.audio.features import FeatureConfig

        fc = FeatureConfig.from_dict(config["features"])
        waves = torch.stack([read_clip(path, fc) for path in inputs])          # [N, L]
        classes = config["classes"]
        model.eval()
        with torch.no_grad(), hw.autocast():
            probs = torch.softmax(model(model_input(waves, config, hw)).float(), 1).cpu()
        k = min(top, len(classes))
        out = []
        for path, p in zip(inputs, probs):
            values, idx = p.topk(k)
            out.append({"input": str(path), "top": [{"class": classes[i], "probability": v}
                                                     for v, i in zip(values.tolist(), idx.tolist())]})
        return out


def _same_folder(path: Path, saved: str) -> bool:
    from convnet.audio.datasets import fsdd_folder

    try:
        return (fsdd_folder(path) or path).resolve() == Path(saved).resolve()
    except OSError:
        return False


# -- features as the network sees them -------------------------------------------------------------
def spectrogram_stats(split, fc) -> tuple[float, float]:
    """(mean, std) in dB over every bin of every training spectrogram."""
    spec = split_spectrograms(split, fc)
    return round(spec.mean().item(), 4), round(max(spec.std().item(), 1e-3), 4)


def split_spectrograms(split, fc):
    """float32 [N, F, T] clean log-mel spectrograms of a ClipSet, computed once and kept."""
    from convnet.audio.features import log_mel

    from convnet.audio.features import channel_normalise

    key = ("spectrograms", fc)
    if key not in split.cache:
        split.cache[key] = channel_normalise(log_mel(split.waves, fc), fc)
    return split.cache[key]


def normalise(spec, config: dict):
    """[B, F, T] dB -> the model's [B, 1, F, T] input, standardised by the training statistics."""
    norm = config["normalize"]
    return ((spec - norm["mean"]) / norm["std"]).unsqueeze(1)


def to_device(x, hw):
    import torch

    x = x.to(hw.device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if hw.channels_last else x


def model_input(waves, config: dict, hw):
    """Waveforms [B, L] (already at the feature rate and length) -> the model's input on hw.device."""
    from convnet.audio.features import FeatureConfig, channel_normalise, log_mel

    fc = FeatureConfig.from_dict(config["features"])
    return to_device(normalise(channel_normalise(log_mel(waves, fc), fc), config), hw)


class AudioBatches:
    """(x float [B, 1, F, T], y int64 [B]) batches of a ClipSet on hw.device. train=True: shuffled
    by `seed`, augmented (augment.py), incomplete last batch dropped; else the clean spectrograms
    in data order."""

    def __init__(self, split, config: dict, batch_size: int, hw, *, train: bool, seed: int):
        from convnet.audio.augment import AugmentConfig
        from convnet.audio.features import FeatureConfig

        self.split, self.config, self.hw, self.train, self.seed = split, config, hw, train, seed
        self.batch_size = batch_size
        self.fc = FeatureConfig.from_dict(config["features"])
        self.aug = AugmentConfig.from_dict(config.get("augment"))
        self.drop_last = train and len(split) >= batch_size

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        import torch

        from convnet.audio.augment import augment_spectrograms, augment_waves
        from convnet.audio.features import channel_normalise, log_mel

        n, bs = len(self.split), self.batch_size
        if not self.train:
            spec = split_spectrograms(self.split, self.fc)
            for i in range(0, n, bs):
                yield (to_device(normalise(spec[i:i + bs], self.config), self.hw),
                       self.split.labels[i:i + bs].to(self.hw.device))
            return
        g = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(n, generator=g)
        for b in range(len(self)):
            idx = order[b * bs:(b + 1) * bs]
            waves = augment_waves(self.split.waves[idx], self.aug, self.fc.sample_rate, g)
            spec = channel_normalise(log_mel(waves, self.fc), self.fc)
            spec = augment_spectrograms(normalise(spec, self.config)[:, 0], self.aug, g)
            yield to_device(spec.unsqueeze(1), self.hw), self.split.labels[idx].to(self.hw.device)
