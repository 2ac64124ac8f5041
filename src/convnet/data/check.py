"""`convnet check DATA`: what is wrong with a data set, said before training on it.

For any `--data` that `convnet.data.sources.load_dataset` accepts (an image folder with class
sub-folders, or train/ val/ test/ each with them; an IDX set by name or folder) the report has
the images per class and split, their sizes, colour modes and file formats (from the headers),
and a list of problems, each with a kind, a severity, the files concerned and one suggestion:

    corrupt          files `open_image` refuses (its messages): train skips them (error when
                     none of a split can be read: train refuses it)
    duplicate        byte-identical files (IDX: identical pixels) within a split
    near-duplicate   resized, recompressed or retouched copies within a split
                     (convnet.data.hashing: pHash within --hash-bits, then the thumbnails
                     averaged to 16x16 within --pixel-rms gray levels)
    leak             val/test images with an exact or near copy in an earlier split (error)
    conflict         one picture under two classes (error)
    imbalance        largest/smallest training class at or above --max-ratio
    empty-class      a class with no readable training image (error)
    missing-class    a class with no images in val/ or test/
    mixed-colour     gray images among colour ones, or the other way round
    empty-folder, ignored-files, one-class, unknown-class   what the folder's layout hides

Severity "error": the measurements or the training would be wrong; "warning": worth a look.
Finding problems is not a failure: `convnet check` exits 0 unless --strict. `check_data` reads
a --data argument (a folder file by file, headers first); `check_dataset` checks a Dataset
already in memory, such as the one train has loaded."""

from __future__ import annotations

import hashlib
import io
import sys
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from convnet.data import hashing
from convnet.data.images import IMAGE_SUFFIXES, is_color, max_pixels, open_image
from convnet.errors import DataError

SPLITS = ("train", "val", "test")
GUESS_SAMPLE = 20             # images a class that folder.py reads to guess the channels
PROGRESS_MIN = 500            # fewer files than this: no progress bar
READ_CHUNK = 256              # files read per task
PARALLEL_MIN = 2000           # fewer files than this: one process (starting more costs ~0.5 s)


@dataclass
class Problem:
    kind: str
    severity: str                                        # "error" or "warning"
    message: str                                         # what is wrong, one line
    suggestion: str                                      # what to do about it, one line
    files: list[str] = field(default_factory=list)      # every file concerned
    groups: list[list[str]] = field(default_factory=list)   # copies that belong together
    details: list[str] = field(default_factory=list)    # e.g. the reader's message per file

    def line(self) -> str:
        return f"{self.severity}: {self.message}: {self.suggestion}"

    def examples(self, members: int = 4) -> list[str]:
        """What the text report shows under the line: details, else groups (their first
        `members`), else files."""
        if self.details:
            return self.details
        if self.groups:
            return [" = ".join(g[:members]) + (f" (+{len(g) - members:,} more)" if len(g) > members else "")
                    for g in self.groups]
        return self.files


@dataclass
class Report:
    data: str
    kind: str                                            # "folder", "idx" or "tensors"
    path: str | None
    classes: list[str]
    counts: dict[str, dict[str, int]]                    # split -> class -> readable images
    unreadable: dict[str, int]                           # split -> files that could not be read
    sizes: dict[str, int]                                # "WxH" -> images
    modes: dict[str, int]                                # PIL mode -> images
    formats: dict[str, int]                              # PNG, JPEG, IDX, ... -> images
    settings: dict
    problems: list[Problem]

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def exit_code(self, strict: bool) -> int:
        """0, or 1 when strict and there is any problem."""
        return 1 if strict and self.problems else 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total"] = self.total
        d["errors"] = sum(p.severity == "error" for p in self.problems)
        d["warnings"] = sum(p.severity == "warning" for p in self.problems)
        return d


@dataclass
class _Images:
    """The readable images of a data set, one row each."""

    names: list[str]              # [N] shown in problems: a path under the root, or "train[17]"
    split: np.ndarray             # int [N] into splits
    label: np.ndarray             # int [N] into classes
    digests: list[bytes]          # [N] of the file bytes (IDX: of the pixels)
    hashes: np.ndarray            # uint64 [N]: pHash
    thumbs: np.ndarray            # uint8 [N, 32, 32]: gray thumbnails, for the RMS check


def check_data(data: str, data_dir: str | None = None, *, hash_bits: int = 10, pixel_rms: float = 6.0,
               near: bool = True, max_ratio: float = 3.0, progress: bool = True, workers: int = 1) -> Report:
    """Read a data set as `train --data DATA --data-dir DIR` would and report its problems
    (a folder's files read by `workers` processes: see _read_files)."""
    kind, root = _resolve(data, data_dir)
    settings = {"hash_bits": hash_bits, "pixel_rms": pixel_rms, "near": near, "max_ratio": max_ratio}
    if kind == "idx":
        from convnet.data.sources import load_dataset

        return check_dataset(load_dataset(data, data_dir, progress=False), data, hash_bits=hash_bits,
                             pixel_rms=pixel_rms, near=near, max_ratio=max_ratio, progress=progress)
    report, images, splits = _check_folder(root, data, settings, progress, workers)
    return _finish(report, images, splits, progress)


def check_dataset(ds, data: str | None = None, *, hash_bits: int = 10, pixel_rms: float = 6.0,
                  near: bool = True, max_ratio: float = 3.0, progress: bool = False) -> Report:
    """The same report for a Dataset in memory (uint8 [N, C, H, W] tensors per split), e.g. the
    one `train` has just loaded: counts, copies within and across its splits, imbalance.
    near=False looks for exact copies only (hashing the bytes: well under a second for 60,000)."""
    settings = {"hash_bits": hash_bits, "pixel_rms": pixel_rms, "near": near, "max_ratio": max_ratio}
    splits, parts = [], []
    for s in SPLITS:
        part = getattr(ds, s, None)
        if part is not None and not any(part is q for q in parts):     # a folder's test may be its val
            splits.append(s)
            parts.append(part)
    arrays = [p.images.numpy() for p in parts]                          # [N, C, H, W] each
    label = np.concatenate([p.labels.numpy() for p in parts]).astype(np.int64)
    split = np.concatenate([np.full(len(p), k, np.int64) for k, p in enumerate(parts)])
    names = [f"{s}[{i}]" for s, p in zip(splits, parts) for i in range(len(p))]
    digests = [hashlib.blake2b(row.tobytes(), digest_size=16).digest()
               for a in arrays for row in a.reshape(len(a), -1)]
    thumbs = np.concatenate([hashing.thumbnails(_gray(a)) for a in arrays])
    images = _Images(names, split, label, digests, hashing.hash_images(thumbs, ("phash",))[:, 0], thumbs)
    n, (c, h, w) = len(names), arrays[0].shape[1:]
    source = getattr(ds, "source", None) or {}
    report = Report(
        data=data or ds.name, kind="idx" if source.get("kind") == "idx" else "tensors", path=source.get("path"),
        classes=list(ds.classes), counts=_counts(split, label, splits, ds.classes),
        unreadable={s: 0 for s in splits}, sizes={f"{w}x{h}": n}, modes={"L" if c == 1 else "RGB": n},
        formats={"IDX" if source.get("kind") == "idx" else "tensor": n}, settings=settings, problems=[])
    return _finish(report, images, splits, progress)


def _finish(report: Report, images: _Images, splits: list[str], progress: bool) -> Report:
    """The problems every kind of data set can have: copies, imbalance; errors first."""
    st = report.settings
    report.problems += _copies(images, splits, report.classes, st["hash_bits"], st["pixel_rms"], st["near"],
                               progress, folder=report.kind == "folder")
    report.problems += _balance(report.counts, report.classes, st["max_ratio"])
    report.problems.sort(key=lambda p: (p.severity != "error", _KIND_ORDER.index(p.kind)))
    return report


def _gray(images: np.ndarray) -> np.ndarray:
    """uint8 [N, C, H, W] -> uint8 [N, H, W] with PIL's "L" weights (ITU-R 601) for colour."""
    if images.shape[1] == 1:
        return images[:, 0]
    rgb = images[:, :3].astype(np.float32)
    return np.clip((0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).round(), 0, 255).astype(np.uint8)


_KIND_ORDER = ["unknown-class", "one-class", "empty-class", "leak", "conflict", "corrupt", "duplicate", "near-duplicate",
               "imbalance", "missing-class", "mixed-colour", "empty-folder", "ignored-files"]


def _resolve(data: str, data_dir: str | None) -> tuple[str, Path | None]:
    """("idx", None) for what load_dataset reads as IDX, else ("folder", root); the same
    resolution as load_dataset (a --data that is not a path is looked for in --data-dir)."""
    from convnet.data.sources import IDX_SETS

    if data.lower() in IDX_SETS:
        return "idx", None
    path = Path(data_dir or data) if data_dir and not Path(data).exists() else Path(data)
    if not path.exists():
        raise DataError(f"unknown data set {data!r}: not one of {', '.join(IDX_SETS)} and no such folder")
    if not path.is_dir():
        raise DataError(f"{path} is not a folder")
    if any((path / f).is_file() for f in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
        return "idx", path
    return "folder", path


# ------------------------------------------------------------------------------------- folders


def _check_folder(root: Path, data: str, settings: dict, progress: bool,
                  workers: int) -> tuple[Report, _Images, list[str]]:
    layout = _scan(root)
    splits = list(layout.found)
    classes = sorted(layout.found["train"])
    if not classes:
        raise DataError(f"{root}: no class sub-folders with images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    problems = _layout_problems(root, layout, classes)
    index = {c: k for k, c in enumerate(classes)}
    files = [(s, c, f) for s, found in layout.found.items() for c, fs in found.items() for f in fs]
    rows, failed = _read_files(root, files, progress, workers)
    keep = [k for k, (_, c, _) in enumerate(files) if c in index]         # unknown classes: shown, not hashed
    good = [k for k in keep if rows[k] is not None]
    split_of = {s: k for k, s in enumerate(splits)}
    images = _Images(
        names=[_rel(files[k][2], root) for k in good],
        split=np.array([split_of[files[k][0]] for k in good], np.int64),
        label=np.array([index[files[k][1]] for k in good], np.int64),
        digests=[rows[k].digest for k in good],
        hashes=np.zeros(0, np.uint64), thumbs=np.zeros((0, hashing.THUMB, hashing.THUMB), np.uint8))
    if good:
        images.thumbs = np.stack([rows[k].thumb for k in good])
        images.hashes = hashing.hash_images(images.thumbs, ("phash",))[:, 0]
    read = [r for r in rows if r is not None]
    report = Report(
        data=data, kind="folder", path=str(root.resolve()), classes=classes,
        counts=_counts(images.split, images.label, splits, classes),
        unreadable={s: sum(1 for (fs, _, _), r in zip(files, rows) if fs == s and r is None) for s in splits},
        sizes=dict(Counter(f"{r.width}x{r.height}" for r in read).most_common()),
        modes=dict(Counter(r.mode for r in read).most_common()),
        formats=dict(Counter(r.format or "?" for r in read).most_common()),
        settings=settings, problems=problems)
    if failed:
        dead = [s for s in splits if report.unreadable[s] and not sum(report.counts[s].values())]
        report.problems.append(Problem(
            "corrupt", "error" if dead else "warning", f"{_n(len(failed), 'file')} cannot be read as images"
            + (f"; {', '.join(d + '/' for d in dead)} {'has' if len(dead) == 1 else 'have'} no readable image"
               if dead else ""),
            "remove or replace them: train skips them with a warning" if not dead else
            "replace them: train refuses a split with no readable image",
            files=[_rel(p, root) for p, _ in failed], details=[msg for _, msg in failed]))
    report.problems += _colour(root, files, rows, layout.found["train"])
    return report, images, splits


@dataclass
class _Layout:
    found: dict[str, dict[str, list[Path]]]              # split -> class -> image files
    empty: list[Path]                                    # class folders without an image
    ignored: list[Path]                                  # files with no image suffix, folders beside train/


def _scan(root: Path) -> _Layout:
    """The splits and classes train reads (folder.scan_classes, the same train/ val/ test/ rule
    as folder.load_folder), and what they leave out."""
    from convnet.data.folder import scan_classes

    split_dirs = {s: root / s for s in SPLITS if (root / s).is_dir()}
    found, empty, ignored = {}, [], []
    if "train" in split_dirs:
        ignored += sorted(p for p in root.iterdir() if p.is_dir() and p.name not in SPLITS
                          and not p.name.startswith("."))
    else:
        split_dirs = {"train": root}
    for s, folder in split_dirs.items():
        found[s] = scan_classes(folder)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if sub.name not in found[s]:
                empty.append(sub)
            ignored += sorted(f for f in sub.rglob("*") if f.is_file() and not f.name.startswith(".")
                              and f.suffix.lower() not in IMAGE_SUFFIXES)
    return _Layout(found, empty, ignored)


def _layout_problems(root: Path, layout: _Layout, classes: list[str]) -> list[Problem]:
    problems = []
    if len(classes) < 2:
        problems.append(Problem(
            "one-class", "error", f"{root}: only one class ({classes[0]!r}); a classifier needs at least two",
            "add a folder of images for each other class"))
    for s, found in layout.found.items():
        extra = sorted(set(found) - set(classes))
        if extra:
            problems.append(Problem(
                "unknown-class", "error", f"{root / s}: classes {extra} are not in train/",
                "add training images for them or remove them: train refuses the folder",
                files=[_rel(f, root) for c in extra for f in found[c]]))
        if s != "train":
            missing = [c for c in classes if c not in found]
            if missing:
                problems.append(Problem(
                    "missing-class", "warning",
                    f"{_n(len(missing), 'class', 'classes')} ha{'s' if len(missing) == 1 else 've'} "
                    f"no {s} images ({', '.join(map(repr, missing[:5]))}{', ...' if len(missing) > 5 else ''})",
                    f"add some: the {s} accuracy says nothing about {'it' if len(missing) == 1 else 'them'}"))
    if layout.empty:
        problems.append(Problem(
            "empty-folder", "warning", f"{_n(len(layout.empty), 'folder')} ha{'s' if len(layout.empty) == 1 else 've'} "
            f"no images ({', '.join(sorted(IMAGE_SUFFIXES))})", "train ignores them: fill or remove them",
            files=[_rel(p, root) + "/" for p in layout.empty]))
    folders = [p for p in layout.ignored if p.is_dir()]
    if folders:
        problems.append(Problem(
            "ignored-files", "warning", f"{_n(len(folders), 'folder')} beside train/ "
            f"{'is' if len(folders) == 1 else 'are'} not read (only train/, val/ and test/ are)",
            "move their class folders into train/, val/ or test/, or remove them",
            files=[_rel(p, root) + "/" for p in folders]))
    files = [f for f in layout.ignored if not f.is_dir()]
    if files:
        kinds = Counter(f.suffix.lower() or "(no suffix)" for f in files)
        problems.append(Problem(
            "ignored-files", "warning", f"{_n(len(files), 'file')} in class folders "
            f"{'is' if len(files) == 1 else 'are'} not an image type train reads "
            f"({', '.join(f'{k} {v}' for k, v in kinds.most_common())})",
            "train ignores them: convert any that are pictures to PNG or JPEG",
            files=[_rel(f, root) for f in files]))
    return problems


@dataclass
class _Read:
    digest: bytes
    width: int
    height: int
    mode: str
    format: str | None
    colour: bool
    thumb: np.ndarray             # uint8 [32, 32]


def _read_files(root: Path, files: list, progress: bool, workers: int = 1) -> tuple[list[_Read | None],
                                                                                list[tuple[Path, str]]]:
    """Each file read once: its bytes hashed, its header, its 32x32 gray thumbnail. A file the
    fast path cannot read goes through open_image, whose one-line message is the report's.

    With workers > 1 (and enough files to pay for starting them), chunks of files go to that
    many processes: Pillow's per-file work is mostly Python, so threads gain little. They are
    spawned, not forked (torch is loaded by then), which re-imports the caller's main module
    unless it is a package's __main__ or guarded by `if __name__ == "__main__"`: the CLI asks
    for them, the Python default is one process."""
    from tqdm import tqdm

    cap = max_pixels()
    paths = [f for _, _, f in files]
    bar = tqdm(total=len(paths), desc=f"checking {root.name}", unit="img", leave=False, file=sys.stderr,
               disable=True if not progress or len(paths) < PROGRESS_MIN else None)
    chunks = [paths[k:k + READ_CHUNK] for k in range(0, len(paths), READ_CHUNK)]
    results: list = []
    for part in _map_chunks(chunks, cap, workers if len(paths) >= PARALLEL_MIN else 1):
        results += part
        bar.update(len(part))
    bar.close()
    rows = [r if isinstance(r, _Read) else None for r in results]
    return rows, [(p, r) for p, r in zip(paths, results) if isinstance(r, str)]


def _map_chunks(chunks: list[list[Path]], cap: int, workers: int):
    """_read_many over the chunks, in order: in this process, or in a spawned pool."""
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield _read_many(chunk, cap)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_read_many, chunks, [cap] * len(chunks))


def _read_many(paths: list[Path], cap: int) -> list:
    """_read_one of each path, or the message of its DataError: one chunk of work."""
    out = []
    for path in paths:
        try:
            out.append(_read_one(path, cap))
        except DataError as e:
            out.append(str(e))
    return out


def _read_one(path: Path, cap: int) -> _Read:
    from PIL import Image

    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as im:        # the header only, so far
                w, h = im.size
                if w * h <= cap:
                    return _Read(digest, w, h, im.mode, im.format, is_color(im), hashing.thumbnail(im))
    except Exception:        # noqa: BLE001 -- any failure is open_image's to name, below
        pass
    im = open_image(raw, "L", name=str(path))         # raises the project's DataError for a bad file
    return _Read(digest, im.width, im.height, im.mode, None, False, hashing.thumbnail(im))


def _colour(root: Path, files: list, rows: list, train: dict[str, list[Path]]) -> list[Problem]:
    """Gray images among colour ones or colour among gray, and what train will make of them:
    it reads the whole folder as colour when any of the first 20 images of a class is."""
    colour = [(f, r.colour) for (_, _, f), r in zip(files, rows) if r is not None]
    n_colour = sum(c for _, c in colour)
    n_gray = len(colour) - n_colour
    if not n_colour or not n_gray:
        return []
    flags = {f: c for f, c in colour}
    as_colour = any(flags.get(f, False) for fs in train.values() for f in fs[:GUESS_SAMPLE])
    odd = [f for f, c in colour if c != (n_colour >= n_gray)]
    what = "gray" if n_colour >= n_gray else "colour"
    among = "colour" if what == "gray" else "gray"
    effect = ("train reads the folder as colour (gray images copied to 3 channels)" if as_colour else
              "train reads the folder as gray (colour images lose their colour)")
    return [Problem("mixed-colour", "warning",
                    f"{_n(len(odd), what + ' image')} among {len(colour) - len(odd):,} {among} ones",
                    f"{effect}; check that they belong", files=[_rel(f, root) for f in odd])]


# -------------------------------------------------------------------------- copies and balance


def _copies(images: _Images, splits: list[str], classes: list[str], hash_bits: int, pixel_rms: float,
            near: bool, progress: bool, folder: bool) -> list[Problem]:
    """Exact copies (one digest) and near copies (hashing.near_pairs among the first image of
    each digest), told apart by where the copies of a set lie: one split and class
    (duplicate), two classes (conflict), an earlier split (leak)."""
    n = len(images.names)
    first: dict[bytes, int] = {}
    rep = np.array([first.setdefault(d, k) for k, d in enumerate(images.digests)], np.int64)  # [N]
    links_i, links_j = [rep], [np.arange(n)]           # every image joined to its digest's first
    if near and n > 1:
        uniq = np.unique(rep)
        bar = _pair_bar(len(uniq), progress)
        i, j = hashing.near_pairs(images.hashes[uniq], images.thumbs[uniq], hash_bits, pixel_rms,
                                  progress=bar.update if bar else None)
        if bar:
            bar.close()
        links_i.append(uniq[i])
        links_j.append(uniq[j])
    copies = hashing.groups(n, np.concatenate(links_i), np.concatenate(links_j))
    return (_conflicts(images, copies, classes) + _leaks(images, copies, splits, rep, folder)
            + _duplicates(images, copies, splits, rep, folder))


def _pair_bar(n: int, progress: bool):
    pairs = n * (n - 1) // 2
    if not progress or pairs < 50_000_000:               # 10,000 images: about a second, no bar
        return None
    from tqdm import tqdm

    return tqdm(total=pairs, desc="comparing", unit="pair", unit_scale=True, leave=False, file=sys.stderr,
                disable=None)


def _conflicts(images: _Images, copies: list[list[int]], classes: list[str]) -> list[Problem]:
    mixed = [g for g in copies if len({int(images.label[k]) for k in g}) > 1]
    if not mixed:
        return []
    labels = sorted({classes[int(images.label[k])] for g in mixed for k in g})
    return [Problem(
        "conflict", "error",
        f"{_n(len(mixed), 'picture')} {'appears' if len(mixed) == 1 else 'appear'} under two or more classes "
        f"({', '.join(map(repr, labels[:6]))}{', ...' if len(labels) > 6 else ''})",
        "keep each picture in the one class it belongs to: the other label teaches the model a mistake",
        files=[images.names[k] for g in mixed for k in g],
        groups=[[f"{images.names[k]} ({classes[int(images.label[k])]})" for k in g] for g in mixed])]


def _leaks(images: _Images, copies: list[list[int]], splits: list[str], rep: np.ndarray,
           folder: bool) -> list[Problem]:
    """Per pair of splits: the images of the later one (val after train, test after both) with a
    copy in the earlier one."""
    problems = []
    for later in range(1, len(splits)):
        for earlier in range(later):
            leaked, groups, n_exact = [], [], 0
            for g in copies:
                here = [k for k in g if images.split[k] == later]
                there = [k for k in g if images.split[k] == earlier]
                if here and there:
                    leaked += here
                    n_exact += sum(rep[k] in set(rep[there].tolist()) for k in here)
                    groups.append([images.names[k] for k in here + there])
            if not leaked:
                continue
            a, b = splits[later], splits[earlier]
            where = f"{a}/ or {b}/" if folder else f"{a} or {b}"
            how = ("exact copies" if n_exact == len(leaked) else "near copies" if n_exact == 0
                   else f"{_n(n_exact, 'exact copy', 'exact copies')}, "
                        f"{_n(len(leaked) - n_exact, 'near copy', 'near copies')}")
            problems.append(Problem(
                "leak", "error",
                f"{_n(len(leaked), a + ' image')} also {'appears' if len(leaked) == 1 else 'appear'} in {b} ({how})",
                f"remove them from {where}, or the {a} accuracy is optimistic",
                files=[images.names[k] for k in leaked], groups=groups))
    return problems


def _duplicates(images: _Images, copies: list[list[int]], splits: list[str], rep: np.ndarray,
                folder: bool) -> list[Problem]:
    """Copies within one split and class: identical files (IDX: pixels), then near copies (one
    image of each content shown)."""
    exact: dict[int, list[list[int]]] = {}             # split -> groups of identical files
    similar: dict[int, list[list[int]]] = {}           # split -> groups of near copies
    for g in copies:
        for key in sorted({(int(images.split[k]), int(images.label[k])) for k in g}):
            part = [k for k in g if (images.split[k], images.label[k]) == key]
            by_digest: dict[int, list[int]] = {}
            for k in part:
                by_digest.setdefault(int(rep[k]), []).append(k)
            exact.setdefault(key[0], []).extend(m for m in by_digest.values() if len(m) > 1)
            if len(by_digest) > 1:
                similar.setdefault(key[0], []).append([m[0] for m in by_digest.values()])
    later = ("; with no val/ folder the random validation split can hold a copy of a training image"
             if folder and splits == ["train"] else "")
    problems = []
    for s in range(len(splits)):
        for kind, found in (("duplicate", exact.get(s)), ("near-duplicate", similar.get(s))):
            if not found:
                continue
            extra = sum(len(m) - 1 for m in found)
            word = "file" if kind == "duplicate" and folder else "image"
            what = ("an exact copy" if extra == 1 else "exact copies") if kind == "duplicate" else \
                ("a near copy" if extra == 1 else "near copies")
            how = "" if kind == "duplicate" else "resized, recompressed or retouched; "
            problems.append(Problem(
                kind, "warning",
                f"{_n(extra, splits[s] + ' ' + word)} {'is' if extra == 1 else 'are'} {what} of another "
                f"({how}{_n(len(found), 'group')})",
                ("keep one of each: a copy weighs the same picture twice" if kind == "duplicate" else
                 "keep one of each unless the variations are meant: augmentation makes them while training")
                + later,
                files=[images.names[k] for m in found for k in m],
                groups=[[images.names[k] for k in m] for m in found]))
    return problems


def _balance(counts: dict[str, dict[str, int]], classes: list[str], max_ratio: float) -> list[Problem]:
    train = counts.get("train", {})
    sizes = {c: train.get(c, 0) for c in classes}
    if len(sizes) < 2:
        return []
    large = max(sizes, key=sizes.get)
    small = min(sizes, key=sizes.get)
    if sizes[small] == 0:
        empty = [c for c, v in sizes.items() if v == 0]
        return [Problem("empty-class", "error",
                        f"{_n(len(empty), 'class', 'classes')} {'has' if len(empty) == 1 else 'have'} no training "
                        f"images ({', '.join(map(repr, empty[:5]))})",
                        "the model cannot learn a class it never sees: add images or drop the class")]
    ratio = sizes[large] / sizes[small]
    if ratio < max_ratio:
        return []
    rare = [c for c, v in sizes.items() if sizes[large] / v >= max_ratio]
    times = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}"
    return [Problem(
        "imbalance", "warning",
        f"class {small!r} has {times}x fewer images than {large!r} ({sizes[small]:,} vs {sizes[large]:,} in train"
        + (f"; {len(rare)} classes at {max_ratio:g}x or more fewer)" if len(rare) > 1 else ")"),
        "try --class-weights auto or --sampler balanced", files=[])]


# ------------------------------------------------------------------------------------ helpers


def _counts(split: np.ndarray, label: np.ndarray, splits: list[str], classes: list[str]) -> dict:
    table = np.zeros((len(splits), len(classes)), np.int64)
    np.add.at(table, (split, label), 1)
    return {s: {c: int(table[k, y]) for y, c in enumerate(classes)} for k, s in enumerate(splits)}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


# ------------------------------------------------------------------------------------- the text


def format_report(report: Report, show: int = 5) -> str:
    """The report as the text `convnet check` prints: counts, sizes, then one line a problem
    with up to `show` examples under it."""
    lines = [_headline(report)]
    lines += _table(report)
    lines.append("  sizes: " + _sizes(report.sizes))
    lines.append("  modes: " + (", ".join(f"{m} {v:,}" for m, v in report.modes.items()) or "none")
                 + "; formats: " + (", ".join(f"{m} {v:,}" for m, v in report.formats.items()) or "none"))
    if not report.problems:
        lines.append("no problems found")
        return "\n".join(lines)
    errors = sum(p.severity == "error" for p in report.problems)
    lines.append(f"{_n(len(report.problems), 'problem')} ({_n(errors, 'error')}, "
                 f"{_n(len(report.problems) - errors, 'warning')}):")
    for p in report.problems:
        lines.append(f"  {p.severity} {p.kind}: {p.message}: {p.suggestion}")
        shown = p.examples()
        lines += [f"      {e}" for e in shown[:show]]
        if len(shown) > show:
            lines.append(f"      ... and {len(shown) - show:,} more (--json lists them all)")
    return "\n".join(lines)


def _headline(report: Report) -> str:
    what = {"folder": "image folder", "idx": "IDX set", "tensors": "images in memory"}[report.kind]
    if report.path and report.kind != "folder":
        what += f" at {report.path}"
    bad = sum(report.unreadable.values())
    return (f"{report.data} ({what}): {_n(len(report.counts), 'split')}, "
            f"{_n(len(report.classes), 'class', 'classes')}, {_n(report.total, 'image')}"
            + (f" (+{bad:,} unreadable)" if bad else ""))


def _table(report: Report) -> list[str]:
    splits = list(report.counts)
    width = max([5] + [len(c) for c in report.classes])
    cols = [max(len(s), len(f"{sum(report.counts[s].values()):,}")) for s in splits]
    head = "  " + "class".ljust(width) + "".join(f"  {s:>{w}}" for s, w in zip(splits, cols))
    rows = ["  " + c.ljust(width) + "".join(f"  {report.counts[s][c]:>{w},}" for s, w in zip(splits, cols))
            for c in report.classes]
    total = "  " + "total".ljust(width) + "".join(f"  {sum(report.counts[s].values()):>{w},}"
                                                  for s, w in zip(splits, cols))
    return [head] + rows + [total]


def _sizes(sizes: dict[str, int]) -> str:
    if not sizes:
        return "none"
    items = list(sizes.items())
    text = ", ".join(f"{k} {v:,}" for k, v in items[:3])
    if len(items) > 3:
        text += f", {len(items) - 3:,} other sizes {sum(v for _, v in items[3:]):,}"
    if len(items) > 1:
        by_area = sorted(sizes, key=lambda k: (int(k.split("x")[0]) * int(k.split("x")[1]), k))
        text += f"; smallest {by_area[0]}, largest {by_area[-1]}"
    return text
