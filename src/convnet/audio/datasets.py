"""Audio data sets: a folder of class sub-folders of sound files, or the FSDD layout.

    sounds/yes/001.wav, sounds/no/a.flac, ...     class folders: label = sub-folder name
    fsdd/recordings/7_theo_12.wav                 FSDD: {label}_{speaker}_{index}.wav in one folder
                                                  (the folder itself or its recordings/)

Splits: "own" (FSDD's convention: indices 0-4 of every speaker and label are test), "speaker"
(every clip of `test_speaker` is test: a voice the model never heard), "random" (a seeded,
per-class `test_fraction`), "all" (every clip is test: evaluating a run on new recordings).
Each clip is read once, mixed to mono, resampled to the feature rate and cropped or padded to
the feature length; clips too short, silent or unreadable are reported and skipped."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from convnet.audio.features import FeatureConfig, fix_length, resample
from convnet.audio.wav import SOUND_SUFFIXES, read_audio
from convnet.data.tensors import stratified_split
from convnet.errors import ConfigError, DataError

FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>.+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
SPLITS = ("own", "speaker", "random", "all")


@dataclass
class Clip:
    """One sound file found in a data set (nothing read yet)."""

    path: Path
    label: str
    speaker: str | None = None
    index: int | None = None


@dataclass
class ClipSet:
    """Clips in memory at the feature rate and length: one split of a data set."""

    waves: torch.Tensor                 # float32 [N, L], L = FeatureConfig.samples
    labels: torch.Tensor                # int64 [N]
    clips: list[Clip] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False)   # computed features, by key

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "ClipSet":
        index = torch.as_tensor(index, dtype=torch.int64)
        return ClipSet(self.waves[index], self.labels[index], [self.clips[i] for i in index.tolist()])


@dataclass
class AudioData:
    name: str
    classes: list[str]
    train: ClipSet | None
    test: ClipSet | None
    val: ClipSet | None = None
    source: dict = field(default_factory=dict)      # how to load it again (config.json "data")
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, why)
    features: object = None         # the FeatureConfig they were read with (set by the task)
    augment: object = None          # the AugmentConfig training will use (set by the task)

    def split(self, name: str) -> ClipSet:
        data = getattr(self, name, None) if name in ("train", "val", "test") else None
        if data is None:
            raise DataError(f"data set {self.name!r} has no {name} split")
        return data


# -- finding the files ----------------------------------------------------------------------------
def is_sound(path: Path) -> bool:
    return path.suffix.lower() in SOUND_SUFFIXES and not path.name.startswith(".")


def fsdd_folder(path: Path) -> Path | None:
    """The folder holding FSDD-named recordings: `path` or `path/recordings`, else None."""
    for folder in (path / "recordings", path):
        if folder.is_dir():
            with os.scandir(folder) as it:
                for _, entry in zip(range(50), it):        # a look at the first entries is enough
                    if entry.is_file() and FSDD_NAME.match(entry.name):
                        return folder
    return None


def has_class_folders(path: Path, look: int = 20) -> bool:
    """True if some sub-folder of `path` holds sound files (a quick look, not a full scan)."""
    if not path.is_dir():
        return False
    with os.scandir(path) as it:
        subs = [Path(e.path) for _, e in zip(range(look), it) if e.is_dir() and not e.name.startswith(".")]
    for sub in subs:
        with os.scandir(sub) as it:
            if any(e.is_file() and is_sound(Path(e.name)) for _, e in zip(range(look), it)):
                return True
    return False


def scan_fsdd(folder: Path) -> tuple[list[Clip], list[tuple[str, str]]]:
    clips, skipped = [], []
    for f in sorted(folder.iterdir()):
        if not f.is_file() or not is_sound(f):
            continue
        m = FSDD_NAME.match(f.name)
        if m is None:
            skipped.append((str(f), "name is not {label}_{speaker}_{index}.wav"))
            continue
        clips.append(Clip(f, m["label"], m["speaker"], int(m["index"])))
    return clips, skipped


def scan_class_folders(root: Path) -> list[Clip]:
    clips = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        clips += [Clip(f, sub.name) for f in sorted(sub.rglob("*")) if f.is_file() and is_sound(f)]
    return clips


def find_clips(path: Path) -> tuple[str, Path, list[Clip], list[tuple[str, str]]]:
    """(layout "fsdd" | "folders", folder, clips, skipped names) of a data folder."""
    if not path.exists():
        raise DataError(f"{path}: no such folder")
    if not path.is_dir():
        raise DataError(f"{path}: is a file, not a folder of sound files")
    fsdd = fsdd_folder(path)
    if fsdd is not None:
        clips, skipped = scan_fsdd(fsdd)
        return "fsdd", fsdd, clips, skipped
    clips = scan_class_folders(path)
    if not clips:
        raise DataError(f"{path}: no sound files ({', '.join(SOUND_SUFFIXES)}) in class sub-folders, "
                        "and no FSDD-style {label}_{speaker}_{index}.wav names")
    return "folders", path, clips, []


# -- reading --------------------------------------------------------------------------------------
def read_clip(path: str | Path, fc: FeatureConfig, check: bool = True) -> torch.Tensor:
    """One sound file -> float32 [fc.samples] at fc.sample_rate. check=True: DataError if the clip
    is shorter than fc.min_seconds or its peak is below fc.silence_db (nothing to classify)."""
    samples, rate = read_audio(path)
    seconds = len(samples) / rate
    if check and seconds < fc.min_seconds:
        raise DataError(f"{path}: too short ({seconds * 1000:.0f} ms, under {fc.min_seconds * 1000:g} ms)")
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if check and (peak == 0 or 20 * np.log10(peak) < fc.silence_db):
        shown = "all zeros" if peak == 0 else f"peak {20 * np.log10(peak):.0f} dB"
        raise DataError(f"{path}: silent ({shown}, under {fc.silence_db:g} dB full scale)")
    x = resample(torch.from_numpy(samples), rate, fc.sample_rate)
    return fix_length(x, fc.samples).float()


def read_clips(clips: list[Clip], fc: FeatureConfig) -> tuple[torch.Tensor, list[Clip], list[tuple[str, str]]]:
    """(waves [N, L] of the clips that could be used, those clips, (path, why) for the others)."""
    waves = torch.empty(len(clips), fc.samples)
    kept, skipped = [], []
    for clip in clips:
        try:
            waves[len(kept)] = read_clip(clip.path, fc)
        except DataError as e:
            skipped.append((str(clip.path), str(e).removeprefix(f"{clip.path}: ")))
            continue
        kept.append(clip)
    return waves[: len(kept)], kept, skipped


def report_skipped(skipped: list[tuple[str, str]], total: int, show: int = 5) -> None:
    """One warning line per skipped clip (the first `show`), then a count of the rest."""
    for path, why in skipped[:show]:
        print(f"warning: skipped {path}: {why}", file=sys.stderr)
    if len(skipped) > show:
        print(f"warning: skipped {len(skipped) - show} more of the {total:,} clips "
              f"({len(skipped):,} in all)", file=sys.stderr)


# -- splitting ------------------------------------------------------------------------------------
def split_index(clips: list[Clip], labels: torch.Tensor, how: str, *, test_speaker: str | None = None,
                test_fraction: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, test indices) of `clips` for a split rule (see the module docstring)."""
    if how not in SPLITS:
        raise ConfigError(f"unknown split {how!r} (choose {', '.join(SPLITS)})")
    n = len(clips)
    if how == "all":
        return torch.empty(0, dtype=torch.int64), torch.arange(n)
    if how == "random":
        if not 0 < test_fraction < 1:
            raise ConfigError(f"test fraction must be in (0, 1), got {test_fraction}")
        return stratified_split(labels, test_fraction, seed)
    if any(c.speaker is None for c in clips):
        raise ConfigError(f"split {how!r} needs FSDD-style names {{label}}_{{speaker}}_{{index}}.wav; "
                          "a folder of class sub-folders has only the random split")
    if how == "own":
        test = torch.tensor([c.index < 5 for c in clips])
    else:
        speakers = sorted({c.speaker for c in clips})
        if test_speaker not in speakers:
            raise ConfigError(f"test speaker {test_speaker!r} is not in the data set "
                              f"(speakers: {', '.join(speakers)})")
        test = torch.tensor([c.speaker == test_speaker for c in clips])
    return (~test).nonzero().flatten(), test.nonzero().flatten()


def load_audio_data(path: str | Path, fc: FeatureConfig, *, split: str | None = None,
                    test_speaker: str | None = None, test_fraction: float = 0.2, val_fraction: float = 0.0,
                    seed: int = 0, classes: list[str] | None = None, name: str | None = None) -> AudioData:
    """Read a data folder into train / val / test ClipSets.

    split None: "speaker" if test_speaker is given, else "own" for FSDD and "random" for class
    folders. classes: a trained run's class list (labels are then looked up in it; a clip of
    another class is an error) instead of the sorted labels found."""
    layout, folder, clips, skipped = find_clips(Path(path))
    if split is None:
        split = "speaker" if test_speaker else "own" if layout == "fsdd" else "random"
    waves, clips, unreadable = read_clips(clips, fc)
    skipped += unreadable
    report_skipped(skipped, len(clips) + len(skipped))
    if not clips:
        raise DataError(f"{folder}: none of the {len(skipped):,} sound files could be used")
    found = sorted({c.label for c in clips}, key=_label_order)
    if classes is None:
        classes = found
        if len(classes) < 2:
            raise DataError(f"{folder}: only one class ({classes[0]!r}); a classifier needs at least two")
    else:
        extra = sorted(set(found) - set(classes))
        if extra:
            raise DataError(f"{folder}: classes {', '.join(map(repr, extra))} are not among the run's "
                            f"classes ({', '.join(classes)})")
    lookup = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([lookup[c.label] for c in clips], dtype=torch.int64)
    everything = ClipSet(waves, labels, clips)
    train_idx, test_idx = split_index(clips, labels, split, test_speaker=test_speaker,
                                      test_fraction=test_fraction, seed=seed)
    train = everything.subset(train_idx) if len(train_idx) else None
    test = everything.subset(test_idx) if len(test_idx) else None
    if split != "all" and (train is None or test is None):
        raise DataError(f"{folder}: split {split!r} leaves the {'train' if train is None else 'test'} split empty")
    val = None
    if train is not None and val_fraction > 0:
        keep, held = stratified_split(train.labels, val_fraction, seed)
        train, val = train.subset(keep), train.subset(held)
    source = {"kind": "audio", "layout": layout, "path": str(folder.resolve()), "split": split,
              "test_speaker": test_speaker if split == "speaker" else None,
              "test_fraction": test_fraction if split == "random" else None,
              "val_fraction": val_fraction, "seed": seed, "skipped": len(skipped)}
    return AudioData(name or ("fsdd" if layout == "fsdd" else folder.name), classes, train, test, val,
                     source, skipped)


def _label_order(label: str):
    """Digits in numeric order ('2' before '10'), then names alphabetically."""
    return (0, int(label), "") if label.isdigit() else (1, 0, label)
