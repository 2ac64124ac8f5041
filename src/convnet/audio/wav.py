"""Reading sound files: WAV with the standard library, FLAC/OGG through soundfile if installed.

A WAV file is a RIFF container: b"RIFF", a 4-byte little-endian size, b"WAVE", then chunks
of (4-byte id, 4-byte size, data padded to an even length). The "fmt " chunk gives the format
tag (1 integer PCM, 3 IEEE float, 0xFFFE "extensible", whose real tag is the first two bytes
of its sub-format GUID), channels, sample rate and bits per sample; the "data" chunk holds
the interleaved samples (8-bit PCM unsigned, 16/24/32-bit signed little-endian). The header
is parsed here first so that a bad rate, an empty file or a clip over the duration cap is
refused before a single sample is read; plain PCM is then read with `wave`, the other
layouts (which `wave` in Python 3.11 refuses) straight from the data chunk.

    samples, rate = read_audio("clip.wav")   # float32 [frames] in [-1, 1], channels averaged
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convnet.errors import DataError

MAX_SECONDS = 600.0          # longer clips are refused from the header (a 10-hour file is ~6 GB)
SOUND_SUFFIXES = (".wav", ".wave", ".flac", ".ogg")
PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class WavInfo:
    format: int              # PCM or FLOAT
    channels: int
    sample_rate: int         # Hz
    bits: int                # bits per sample as stored (8, 16, 24, 32, 64)
    frames: int              # samples per channel actually present in the file
    data_offset: int         # byte offset of the first sample
    extensible: bool = False  # WAVE_FORMAT_EXTENSIBLE header (which `wave` in Python 3.11 refuses)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def sniff(head: bytes) -> str:
    """The container a file's first bytes announce: wav, flac, ogg, mp3 or unknown."""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"                 # an ID3 tag or an MPEG audio frame sync
    return "unknown"


def read_header(path: str | Path) -> WavInfo:
    """Parse a WAV header (no samples read). DataError names the file and what is wrong."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        kind = sniff(head)
        if size == 0:
            raise DataError(f"{path}: empty file (0 bytes)")
        if kind != "wav":
            raise DataError(f"{path}: not a WAV file ({_describe(kind, head)})")
        if head[:4] != b"RIFF":
            raise DataError(f"{path}: {head[:4].decode()} WAV files are not supported (only RIFF)")
        fmt, data = None, None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                break
            cid, csize = struct.unpack("<4sI", chunk)
            start = f.tell()
            if cid == b"fmt ":
                fmt = _parse_fmt(path, f.read(min(csize, 64)))
            elif cid == b"data":
                data = (start, min(csize, size - start))     # streaming writers leave the size open
                if fmt is not None:
                    break
            f.seek(start + csize + (csize & 1))
    if fmt is None:
        raise DataError(f"{path}: broken WAV header (no 'fmt ' chunk)")
    if data is None:
        raise DataError(f"{path}: broken WAV header (no 'data' chunk)")
    tag, channels, rate, bits, extensible = fmt
    frames = data[1] // (channels * (bits // 8))
    return WavInfo(tag, channels, rate, bits, frames, data[0], extensible)


def _parse_fmt(path: Path, body: bytes) -> tuple[int, int, int, int, bool]:
    if len(body) < 16:
        raise DataError(f"{path}: broken WAV header ('fmt ' chunk of {len(body)} bytes, need 16)")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    extensible = tag == EXTENSIBLE
    if extensible:
        if len(body) < 26:
            raise DataError(f"{path}: broken WAV header (extensible 'fmt ' chunk too short)")
        tag = struct.unpack("<H", body[24:26])[0]           # the sub-format GUID starts with the tag
    if tag not in (PCM, FLOAT):
        raise DataError(f"{path}: WAV format tag {tag} is not supported (PCM or float only)")
    if channels < 1:
        raise DataError(f"{path}: WAV header says {channels} channels")
    if rate < 1:
        raise DataError(f"{path}: WAV header says a sample rate of {rate} Hz")
    ok = (8, 16, 24, 32) if tag == PCM else (32, 64)
    if bits not in ok:
        kind = "PCM" if tag == PCM else "float"
        raise DataError(f"{path}: {bits}-bit {kind} WAV is not supported ({'/'.join(map(str, ok))}-bit)")
    return tag, channels, rate, bits, extensible


def read_audio(path: str | Path, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """(mono float32 samples [frames] in [-1, 1], sample rate): WAV, or FLAC/OGG via soundfile."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a sound file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    kind = sniff(head)
    if kind in ("flac", "ogg"):
        return _read_soundfile(path, kind, max_seconds)
    info = read_header(path)
    if info.seconds > max_seconds:
        raise DataError(f"{path}: {info.seconds:,.1f} s long, over the {max_seconds:g} s cap on clip length")
    if info.frames == 0:
        raise DataError(f"{path}: WAV file has no samples")
    if info.format == PCM and not info.extensible:
        samples = _read_pcm(path, info)
    else:
        with open(path, "rb") as f:
            f.seek(info.data_offset)
            raw = f.read(info.frames * info.channels * info.bits // 8)
        if info.format == PCM:
            samples = pcm_to_float(raw, info.bits // 8)
        else:
            samples = np.frombuffer(raw, dtype="<f4" if info.bits == 32 else "<f8").astype(np.float32)
            samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return mono(samples, info.channels), info.sample_rate


def _read_pcm(path: Path, info: WavInfo) -> np.ndarray:
    try:
        with wave.open(str(path), "rb") as w:
            raw = w.readframes(info.frames)
    except (wave.Error, EOFError, struct.error) as e:
        raise DataError(f"{path}: broken WAV file ({e})") from None
    width = info.bits // 8
    raw = raw[: len(raw) // (width * info.channels) * width * info.channels]
    return pcm_to_float(raw, width)


def pcm_to_float(raw: bytes, width: int) -> np.ndarray:
    """Little-endian PCM bytes -> float32 in [-1, 1). 8-bit WAV is unsigned (128 = silence)."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    if width == 3:                    # no 24-bit dtype: place each sample in the top of an int32
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        x = np.zeros((len(b), 4), np.uint8)
        x[:, 1:] = b
        return x.view("<i4")[:, 0].astype(np.float32) / 2**31
    dtype = {2: "<i2", 4: "<i4"}[width]
    return np.frombuffer(raw, dtype).astype(np.float32) / 2 ** (8 * width - 1)


def mono(samples: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved [frames * channels] -> [frames], the channels averaged (stereo mixed down)."""
    if channels == 1:
        return np.ascontiguousarray(samples, dtype=np.float32)
    return samples.reshape(-1, channels).mean(1, dtype=np.float32)


def _read_soundfile(path: Path, kind: str, max_seconds: float) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError:
        raise DataError(f"{path}: reading {kind.upper()} needs the soundfile package "
                        "(pip install 'convnet[audio]')") from None
    try:
        info = soundfile.info(str(path))
        if info.samplerate < 1:
            raise DataError(f"{path}: sample rate of {info.samplerate} Hz")
        if info.frames / info.samplerate > max_seconds:
            raise DataError(f"{path}: {info.frames / info.samplerate:,.1f} s long, over the "
                            f"{max_seconds:g} s cap on clip length")
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except RuntimeError as e:                # soundfile.LibsndfileError is one
        raise DataError(f"{path}: broken {kind.upper()} file ({e})") from None
    if len(data) == 0:
        raise DataError(f"{path}: {kind.upper()} file has no samples")
    return data.mean(1, dtype=np.float32), int(rate)


def _describe(kind: str, head: bytes) -> str:
    if kind == "mp3":
        return "its bytes are MP3 audio; convert it to WAV"
    if kind in ("flac", "ogg"):
        return f"its bytes are {kind.upper()}"
    shown = head[:4].decode("latin-1").encode("unicode_escape").decode()
    return f"starts with {shown!r}, not 'RIFF....WAVE'"


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono or [frames, channels] float samples in [-1, 1] as 16-bit PCM (tests, tools)."""
    x = np.asarray(samples, dtype=np.float64)
    channels = 1 if x.ndim == 1 else x.shape[1]
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
