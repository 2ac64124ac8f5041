"""The audio front end: WAV formats and their errors, resampling, the log-mel spectrogram
(oracle: librosa), FSDD and folder data sets with their splits, augmentation, the TDNN."""

from __future__ import annotations

import struct
import wave

import numpy as np
import pytest
import torch

from convnet.audio.augment import AugmentConfig, gain_and_noise, mask_rows, time_shift
from convnet.audio.datasets import find_clips, load_audio_data, read_clip, split_index
from convnet.audio.features import FeatureConfig, fix_length, log_mel, mel_filterbank, resample
from convnet.audio.wav import read_audio, read_header, write_wav
from convnet.errors import ConfigError, DataError

librosa = pytest.importorskip("librosa", reason="librosa is the test oracle (pip install convnet[test])")


def tone(seconds=0.5, rate=8000, hz=440.0, amp=0.5, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    x = amp * np.sin(2 * np.pi * hz * t)
    return np.stack([x, -x * 0.5], 1)[:, :channels] if channels > 1 else x


def riff(fmt: bytes, data: bytes, extra: bytes = b"") -> bytes:
    body = b"WAVE" + extra + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag, channels, rate, bits, extensible_tag=None) -> bytes:
    block = channels * bits // 8
    base = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if extensible_tag is None:
        return base
    guid = struct.pack("<H", extensible_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return base + struct.pack("<HHI", 22, bits, 0) + guid


# -- reading WAV ------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_widths_read_back_within_one_quantisation_step(tmp_path, width):
    x = tone(channels=2)
    scale = 2 ** (8 * width - 1)
    q = np.clip(np.round(x * scale), -scale, scale - 1).astype(np.int64)
    if width == 1:
        raw = (q + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in q.reshape(-1))
    path = tmp_path / f"pcm{width}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2), w.setsampwidth(width), w.setframerate(8000)
        w.writeframes(raw)
    samples, rate = read_audio(path)
    assert rate == 8000 and samples.dtype == np.float32 and samples.shape == (len(x),)
    assert np.abs(samples - x.mean(1)).max() <= 1.0 / scale + 1e-6       # stereo mixed down


@pytest.mark.parametrize("bits,tag", [(32, 3), (64, 3), (16, 0xFFFE), (32, "float-ext")])
def test_float_and_extensible_wav(tmp_path, bits, tag):
    x = tone(channels=1)
    if tag == 3 or tag == "float-ext":
        data = x.astype("<f4" if bits == 32 else "<f8").tobytes()
        fmt = fmt_chunk(3, 1, 8000, bits) if tag == 3 else fmt_chunk(0xFFFE, 1, 8000, bits, extensible_tag=3)
    else:
        data = np.round(x * 32767).astype("<i2").tobytes()
        fmt = fmt_chunk(0xFFFE, 1, 8000, bits, extensible_tag=1)
    path = tmp_path / "f.wav"
    path.write_bytes(riff(fmt, data, extra=b"LIST" + struct.pack("<I", 3) + b"abc\x00"))   # odd chunk: padded
    samples, rate = read_audio(path)
    assert rate == 8000 and np.abs(samples - x).max() < 1e-4
    # an independent reader agrees (soundfile is libsndfile)
    import soundfile

    ref, _ = soundfile.read(str(path), dtype="float32")
    assert np.abs(samples - ref).max() < 1e-6


def test_broken_files_are_one_line_errors(tmp_path):
    cases = {
        "empty.wav": b"",
        "short.wav": b"RIFF\x10\x00\x00\x00WAVEfmt ",
        "nodata.wav": riff(fmt_chunk(1, 1, 8000, 16), b"")[:-8],
        "mp3.wav": b"ID3\x04\x00\x00\x00\x00\x00\x21" + bytes(200),
        "rate0.wav": riff(fmt_chunk(1, 1, 0, 16), bytes(100)),
        "alaw.wav": riff(fmt_chunk(6, 1, 8000, 8), bytes(100)),
        "bits12.wav": riff(fmt_chunk(1, 1, 8000, 12), bytes(100)),
        "zero.wav": riff(fmt_chunk(1, 1, 8000, 16), b""),
        "text.wav": b"hello, this is not sound at all",
    }
    expected = {"empty.wav": "empty file", "short.wav": "broken WAV header", "nodata.wav": "no 'data' chunk",
                "mp3.wav": "MP3", "rate0.wav": "sample rate of 0 Hz", "alaw.wav": "format tag 6",
                "bits12.wav": "12-bit PCM", "zero.wav": "no samples", "text.wav": "not a WAV file"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError) as e:
            read_audio(tmp_path / name)
        message = str(e.value)
        assert expected[name] in message and name in message and "\n" not in message, message
    with pytest.raises(DataError, match="is a folder"):
        read_audio(tmp_path)


def test_duration_cap_is_checked_from_the_header_before_any_sample_is_read(tmp_path, monkeypatch):
    """A 10-hour 48 kHz 16-bit file (3.5 GB, sparse on disk): refused from its header."""
    frames = 10 * 3600 * 48000
    path = tmp_path / "ten_hours.wav"
    header = riff(fmt_chunk(1, 1, 48000, 16), b"")
    header = header[:4] + struct.pack("<I", 36 + frames * 2) + header[8:-4] + struct.pack("<I", frames * 2)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + frames * 2)            # a hole, no blocks written
    assert read_header(path).seconds == 36000

    def no_reading(*args, **kwargs):
        raise AssertionError("samples were read")

    monkeypatch.setattr(wave, "open", no_reading)
    with pytest.raises(DataError, match=r"36,000\.0 s long, over the 600 s cap"):
        read_audio(path)


# -- resampling and length --------------------------------------------------------------------------
def test_resampling_keeps_tones_below_nyquist_and_removes_those_above():
    rate = 22050
    t = np.arange(rate) / rate
    y = resample(torch.from_numpy(np.sin(2 * np.pi * 1000 * t)), rate, 8000).numpy()
    assert len(y) == 8000
    exact = np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)        # the same tone sampled at 8 kHz
    assert np.abs(y - exact)[100:-100].max() < 1e-3
    aliased = resample(torch.from_numpy(np.sin(2 * np.pi * 5000 * t)), rate, 8000).numpy()
    assert np.abs(aliased)[100:-100].max() < 0.01                   # 5 kHz cannot exist at 8 kHz
    up = resample(torch.from_numpy(exact), 8000, 16000).numpy()
    assert np.abs(up - np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000))[100:-100].max() < 1e-3


def test_resampling_agrees_with_librosa_on_speech(shared_datasets):
    x, rate = read_audio(shared_datasets / "fsdd/recordings/3_theo_7.wav")
    ours = resample(torch.from_numpy(x), rate, 16000).numpy()
    ref = librosa.resample(x, orig_sr=rate, target_sr=16000)
    assert ours.shape == ref.shape
    # soxr's filter is steeper near 4 kHz than this windowed sinc: 1% RMS apart on speech
    assert np.sqrt(np.mean((ours - ref) ** 2) / np.mean(ref ** 2)) < 0.02


def test_fix_length_keeps_the_middle_or_pads_both_ends():
    x = torch.arange(1, 11.0)
    assert fix_length(x, 4).tolist() == [4, 5, 6, 7]
    assert fix_length(x[:3], 6).tolist() == [0, 1, 2, 3, 0, 0]
    assert fix_length(x, 10) is x or fix_length(x, 10).equal(x)


# -- features against librosa -----------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"n_mels": 64, "n_fft": 512, "fmin": 50.0, "fmax": 3800.0},
                                {"sample_rate": 16000, "n_fft": 400, "hop_length": 160, "n_mels": 40}])
def test_mel_filter_bank_matches_librosa(kw):
    fc = FeatureConfig(**kw)
    ref = librosa.filters.mel(sr=fc.sample_rate, n_fft=fc.n_fft, n_mels=fc.n_mels, fmin=fc.fmin, fmax=fc.fmax)
    ours = mel_filterbank(fc)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-5 * ref.max()


@pytest.mark.parametrize("kw", [{}, {"win_length": 200, "hop_length": 64, "n_mels": 32, "top_db": 60.0}])
def test_log_mel_matches_librosa(shared_datasets, kw):
    fc = FeatureConfig(**kw)
    clips = [read_clip(shared_datasets / f"fsdd/recordings/{name}.wav", fc) for name in ("0_george_3", "8_lucas_40")]
    ours = log_mel(torch.stack(clips), fc).numpy()
    for got, x in zip(ours, clips):
        power = librosa.feature.melspectrogram(y=x.numpy(), sr=fc.sample_rate, n_fft=fc.n_fft,
                                               hop_length=fc.hop_length, win_length=fc.win_length,
                                               n_mels=fc.n_mels, fmin=fc.fmin, fmax=fc.fmax)
        ref = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=fc.top_db)
        assert got.shape == ref.shape == fc.shape
        assert np.abs(got - ref).max() < 0.01                            # dB


def test_feature_settings_are_checked():
    for kw, message in [({"sample_rate": 0}, "sample rate"), ({"n_mels": 200}, "too many"),
                        ({"fmax": 5000.0}, "mel range"), ({"hop_length": 0}, "hop length"),
                        ({"seconds": 0}, "clip length")]:
        with pytest.raises(ConfigError, match=message):
            FeatureConfig(**kw)
    with pytest.raises(ConfigError, match="unknown audio feature option"):
        FeatureConfig.from_dict({"n_mel": 40})
    fc = FeatureConfig(n_mels=32)
    assert FeatureConfig.from_dict(fc.to_dict()) == fc


# -- data sets ----------------------------------------------------------------------------------------
def test_fsdd_splits(shared_datasets):
    fc = FeatureConfig(seconds=0.5)
    own = load_audio_data(shared_datasets / "fsdd", fc)
    assert (len(own.train), len(own.test), own.classes) == (2250, 250, [str(d) for d in range(10)])
    assert {c.index for c in own.test.clips} == set(range(5)) and min(c.index for c in own.train.clips) == 5
    assert own.train.waves.shape == (2250, 4000)
    held = load_audio_data(shared_datasets / "fsdd", fc, test_speaker="theo")
    assert {c.speaker for c in held.test.clips} == {"theo"} and len(held.test) == 500
    assert "theo" not in {c.speaker for c in held.train.clips}
    assert held.source["split"] == "speaker" and held.source["test_speaker"] == "theo"
    labels = [int(c.label) for c in held.test.clips]
    assert held.test.labels.tolist() == labels                           # labels come from the names
    clips = held.train.clips + held.test.clips
    labels = torch.cat([held.train.labels, held.test.labels])
    a = split_index(clips, labels, "random", test_fraction=0.2, seed=3)
    b = split_index(clips, labels, "random", test_fraction=0.2, seed=3)
    assert all(x.equal(y) for x, y in zip(a, b)) and not a[1].equal(split_index(clips, labels, "random", seed=4)[1])
    assert torch.bincount(labels[a[1]]).tolist() == [50] * 10           # stratified: 20% of each digit
    assert sorted(a[0].tolist() + a[1].tolist()) == list(range(2500))
    with pytest.raises(ConfigError, match="test speaker 'nobody'.*george, jackson, lucas, nicolas, theo"):
        split_index(clips, labels, "speaker", test_speaker="nobody")
    with pytest.raises(ConfigError, match="unknown split 'odd'"):
        split_index(clips, labels, "odd")


def write_digits_folder(root, classes=("yes", "no"), n=4, rate=16000):
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            write_wav(root / name / f"{i}.wav", tone(0.3 + 0.05 * i, rate, 300 + 200 * k), rate)


def test_class_folders_skip_and_report_bad_clips(tmp_path, capsys):
    write_digits_folder(tmp_path)
    write_wav(tmp_path / "yes" / "silent.wav", np.zeros(4000), 16000)
    write_wav(tmp_path / "no" / "short.wav", tone(0.01, 16000), 16000)
    (tmp_path / "no" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    fc = FeatureConfig(seconds=0.5)
    ds = load_audio_data(tmp_path, fc, test_fraction=0.25)
    assert ds.classes == ["no", "yes"] and len(ds.train) + len(ds.test) == 8
    why = {p.rsplit("/", 1)[1]: w for p, w in ds.skipped}
    assert set(why) == {"silent.wav", "short.wav", "broken.wav"}
    assert "silent" in why["silent.wav"] and "too short" in why["short.wav"] and "broken" in why["broken.wav"]
    err = capsys.readouterr().err
    assert err.count("warning: skipped") == 3 and "silent.wav" in err
    with pytest.raises(ConfigError, match="FSDD-style names"):
        load_audio_data(tmp_path, fc, split="speaker", test_speaker="x")


def test_folders_that_cannot_be_a_data_set(tmp_path):
    write_digits_folder(tmp_path / "one", classes=("yes",))
    with pytest.raises(DataError, match="only one class"):
        load_audio_data(tmp_path / "one", FeatureConfig())
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no sound files"):
        find_clips(tmp_path / "empty")
    with pytest.raises(DataError, match="no such folder"):
        find_clips(tmp_path / "missing")
    (tmp_path / "bad" / "x").mkdir(parents=True)
    (tmp_path / "bad" / "x" / "1.wav").write_bytes(b"ID3 not really")
    with pytest.raises(DataError, match="none of the 1 sound files"):
        load_audio_data(tmp_path / "bad", FeatureConfig())


def test_run_classes_map_labels_and_reject_new_ones(tmp_path):
    write_digits_folder(tmp_path / "d")
    ds = load_audio_data(tmp_path / "d", FeatureConfig(seconds=0.5), split="all", classes=["cat", "no", "yes"])
    assert ds.train is None and len(ds.test) == 8
    assert sorted(set(ds.test.labels.tolist())) == [1, 2]
    with pytest.raises(DataError, match="'no', 'yes' are not among the run's classes"):
        load_audio_data(tmp_path / "d", FeatureConfig(seconds=0.5), split="all", classes=["cat", "dog"])


# -- augmentation -------------------------------------------------------------------------------------
def test_time_shift_moves_each_clip_and_fills_zeros():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(1, 21.0).repeat(6, 1)
    y = time_shift(x, 5, g)
    for row in y:
        nz = row.nonzero().flatten()
        s = int(row[nz[0]] - 1 - nz[0]) * -1                        # where sample 1 (or later) landed
        expected = np.zeros(20)
        if s >= 0:
            expected[s:] = np.arange(1, 21)[:20 - s]
        else:
            expected[:20 + s] = np.arange(1, 21)[-s:]
        assert np.array_equal(row.numpy(), expected) and abs(s) <= 5


def test_noise_is_added_at_the_drawn_snr_and_gain_in_decibels():
    g = torch.Generator().manual_seed(1)
    x = torch.from_numpy(tone(1.0, 8000)).float().repeat(4, 1)
    noisy = gain_and_noise(x, AugmentConfig(gain_db=0, noise_prob=1, snr_db=(20, 20)), g)
    noise = noisy - x
    snr = 10 * torch.log10(x.square().mean(1) / noise.square().mean(1))
    assert torch.allclose(snr, torch.full((4,), 20.0), atol=0.3)
    louder = gain_and_noise(x, AugmentConfig(gain_db=6, noise_prob=0), g)
    gains = 20 * torch.log10(louder.abs().amax(1) / x.abs().amax(1))
    assert (gains.abs() <= 6 + 1e-4).all() and gains.std() > 0


def test_spec_augment_masks_whole_bands_no_wider_than_asked():
    g = torch.Generator().manual_seed(2)
    spec = torch.ones(8, 40, 101)
    masked = mask_rows(spec, masks=1, width=6, dim=1, g=g)
    for clip in masked:
        zero_rows = (clip == 0).all(1).nonzero().flatten()
        assert len(zero_rows) <= 6 and ((clip == 0).any(1) == (clip == 0).all(1)).all()
        if len(zero_rows):
            assert zero_rows.max() - zero_rows.min() + 1 == len(zero_rows)      # one contiguous band
    timed = mask_rows(spec, masks=2, width=10, dim=2, g=g)
    assert ((timed == 0).all(1).sum(1) <= 20).all() and (timed == 0).any()


# -- the TDNN -----------------------------------------------------------------------------------------
def test_tdnn_shapes_and_any_length():
    from convnet.models import create

    model = create("tdnn", 10, 1, input_size=(40, 101)).eval()
    for frames in (23, 101, 300):
        assert model(torch.randn(3, 1, 40, frames)).shape == (3, 10)
    with pytest.raises(ConfigError, match="at least 23 frames"):
        model(torch.randn(2, 1, 40, 20))
    with pytest.raises(ConfigError, match="40 values per frame, got 32"):
        model(torch.randn(2, 1, 32, 101))


def test_tdnn_receptive_field_matches_the_input_gradient():
    """Independent oracle: the frames of the input that change one frame of the last frame layer."""
    from convnet.models import create

    model = create("tdnn", 10, 1, input_size=(40, 101)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.01)                               # all positive: no ReLU switched off
    x = torch.rand(1, 1, 40, 101).add_(0.5).requires_grad_()
    out = model.frames(x.flatten(1, 2))                 # [1, C, 101 - 22]
    out[0, :, 40].sum().backward()
    frames = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    assert model.receptive_field == 23 == int(frames.max() - frames.min() + 1)
    fc = FeatureConfig()
    assert (model.receptive_field - 1) * fc.hop_ms() + fc.window_ms() == 472     # ms of sound seen
