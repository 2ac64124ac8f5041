"""Training-time augmentation of clips, batch by batch, from one seeded generator.

On the waveforms [B, L]: a random time shift (the sound moves, zeros fill in), a random gain
and white noise at a random signal-to-noise ratio. On the normalised log-mel spectrograms
[B, F, T]: a random stretch of the time axis (speaking rate) and of the mel axis about its
lowest band (a longer or shorter vocal tract moves every formant by one factor, as in vocal
tract length perturbation), then SpecAugment's frequency and time masks (Park et al. 2019),
bands of mel rows or frames set to 0, the data set's mean after normalisation. The stretches
are what let a model hear a voice it never heard: five speakers are few. Every parameter is in
AugmentConfig, stored in the run's config.json ("augment")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch

from convnet.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    shift_seconds: float = 0.1      # time shift drawn from [-shift, +shift]
    gain_db: float = 6.0            # gain drawn from [-gain, +gain] dB
    noise_prob: float = 0.5         # share of clips that get white noise
    snr_db: tuple[float, float] = (10.0, 40.0)   # its signal-to-noise ratio, drawn in this range
    stretch: float = 0.15           # time axis scaled by a factor drawn from [1 - s, 1 + s]
    warp: float = 0.1               # mel axis scaled (about its lowest band) by one from [1 - w, 1 + w]
    freq_masks: int = 2             # SpecAugment frequency masks per clip
    freq_width: int = 6             # each up to this many mel bands wide
    time_masks: int = 2             # time masks per clip
    time_width: int = 10            # each up to this many frames wide

    def __post_init__(self):
        object.__setattr__(self, "snr_db", tuple(float(v) for v in self.snr_db))
        bad = [f"{k}={v!r}" for k, v in asdict(self).items()
               if k != "snr_db" and (not isinstance(v, (int, float)) or v < 0)]
        if bad or len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise ConfigError(f"augmentation options must be numbers >= 0 (snr_db a (low, high) pair), "
                              f"got {', '.join(bad) or f'snr_db={self.snr_db!r}'}")
        if self.noise_prob > 1 or self.stretch >= 1 or self.warp >= 1:
            raise ConfigError(f"noise_prob must be in [0, 1] and stretch, warp below 1, got "
                              f"{self.noise_prob}, {self.stretch}, {self.warp}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["snr_db"] = list(self.snr_db)
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "AugmentConfig":
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown audio augmentation option(s): {', '.join(unknown)}")
        return cls(**d)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def time_shift(waves: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """[B, L] -> [B, L], clip b moved by s_b samples (|s_b| <= max_shift), zeros shifted in."""
    if max_shift <= 0:
        return waves
    b, n = waves.shape
    shift = torch.randint(-max_shift, max_shift + 1, (b, 1), generator=g)
    src = torch.arange(n)[None] - shift                        # sample t comes from t - s
    inside = (src >= 0) & (src < n)
    return torch.where(inside, waves.gather(1, src.clamp(0, n - 1)), torch.zeros(()))


def gain_and_noise(waves: torch.Tensor, aug: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    b = waves.shape[0]
    if aug.gain_db > 0:
        waves = waves * 10 ** (_uniform(b, -aug.gain_db, aug.gain_db, g)[:, None] / 20)
    if aug.noise_prob > 0:
        power = waves.square().mean(1, keepdim=True)           # the clip's mean power (padding included)
        snr = _uniform(b, *aug.snr_db, g)[:, None]
        on = (torch.rand(b, 1, generator=g) < aug.noise_prob).float()
        noise = torch.randn(waves.shape, generator=g) * (power / 10 ** (snr / 10)).sqrt()
        waves = waves + on * noise
    return waves


def mask_rows(x: torch.Tensor, masks: int, width: int, dim: int, g: torch.Generator) -> torch.Tensor:
    """Zero `masks` random bands of up to `width` positions along `dim` (1: mel, 2: time) of
    each [B, F, T] spectrogram (in place on a copy)."""
    if masks <= 0 or width <= 0:
        return x
    b, size = x.shape[0], x.shape[dim]
    pos = torch.arange(size)[None]
    keep = torch.ones(b, size, dtype=torch.bool)
    for _ in range(masks):
        w = torch.randint(0, min(width, size) + 1, (b, 1), generator=g)
        start = (torch.rand(b, 1, generator=g) * (size - w + 1)).long()
        keep &= ~((pos >= start) & (pos < start + w))
    shape = (b, size, 1) if dim == 1 else (b, 1, size)
    return x * keep.view(shape)


def augment_waves(waves: torch.Tensor, aug: AugmentConfig, sample_rate: int, g: torch.Generator) -> torch.Tensor:
    waves = time_shift(waves, int(aug.shift_seconds * sample_rate), g)
    return gain_and_noise(waves, aug, g)


def stretch(spec: torch.Tensor, time_scale: torch.Tensor, mel_scale: torch.Tensor) -> torch.Tensor:
    """[B, F, T] -> [B, F, T] with clip b's frames stretched by time_scale[b] about the middle
    frame and its mel bands by mel_scale[b] about band 0 (bilinear; edges repeat)."""
    b = spec.shape[0]
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1 / time_scale                     # x (width, time): x_src = x / s
    theta[:, 1, 1] = 1 / mel_scale                      # y (height, mel): y_src + 1 = (y + 1) / s
    theta[:, 1, 2] = 1 / mel_scale - 1
    x = spec.unsqueeze(1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=True)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                           align_corners=True)[:, 0]


def augment_spectrograms(spec: torch.Tensor, aug: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Stretches, then SpecAugment on normalised [B, F, T] spectrograms (0 = the data set's mean)."""
    if aug.stretch > 0 or aug.warp > 0:
        b = spec.shape[0]
        spec = stretch(spec, 1 + _uniform(b, -aug.stretch, aug.stretch, g), 1 + _uniform(b, -aug.warp, aug.warp, g))
    spec = mask_rows(spec, aug.freq_masks, aug.freq_width, 1, g)
    return mask_rows(spec, aug.time_masks, aug.time_width, 2, g)
