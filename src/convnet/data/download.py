"""Downloads into a cache folder, verified by SHA-256, written atomically."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from convnet.errors import DataError, NetworkError
from convnet.fileio import atomic_write

# Official sources and the published SHA-256 of each gzip file.
SOURCES = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        "files": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "files": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
}


def cache_dir() -> Path:
    """$CONVNET_DATA, else the platform's user cache folder."""
    env = os.environ.get("CONVNET_DATA")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("convnet")) / "datasets"


def ensure_downloaded(name: str, root: Path | None = None, mirrors: list[str] | None = None,
                      checksums: dict[str, str] | None = None, timeout: float = 30.0) -> Path:
    """The folder holding all files of data set `name`, downloading what is missing."""
    spec = SOURCES[name]
    folder = (root or cache_dir()) / name
    files = checksums or spec["files"]
    mirrors = mirrors or _env_mirrors(name) or spec["mirrors"]
    for filename, sha in files.items():
        path = folder / filename
        if path.is_file() and sha256_file(path) == sha:
            continue
        fetch(filename, folder, mirrors, sha, timeout)
    return folder


def _env_mirrors(name: str) -> list[str]:
    """$CONVNET_MIRROR (a base URL; {name} is replaced by the data set's name) replaces the
    official sources, e.g. for a local mirror or a proxy."""
    base = os.environ.get("CONVNET_MIRROR")
    if not base:
        return []
    base = base.replace("{name}", name)
    return [base if base.endswith("/") else base + "/"]


def fetch(filename: str, folder: Path, mirrors: list[str], sha256: str, timeout: float) -> Path:
    errors = []
    for base in mirrors:
        url = base + filename
        print(f"downloading {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = _read_with_progress(response, filename)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            errors.append(f"{url}: SHA-256 {digest[:12]}... does not match the expected {sha256[:12]}...")
            continue
        path = folder / filename

        def write(tmp):
            Path(tmp).write_bytes(data)

        atomic_write(path, write)
        return path
    if all("SHA-256" not in e for e in errors):
        raise NetworkError(f"cannot download {filename}: no network or source unreachable "
                           f"({'; '.join(errors)}); pass --data-dir with the IDX files instead")
    raise DataError(f"download of {filename} failed verification: {'; '.join(errors)}")


def _read_with_progress(response, label: str) -> bytes:
    from tqdm import tqdm

    total = int(response.headers.get("Content-Length") or 0) or None
    chunks = []
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False,
              disable=total is not None and total < 1 << 20) as bar:
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            bar.update(len(chunk))
    return b"".join(chunks)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
