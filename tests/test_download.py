"""Downloads, tested against a local HTTP server on loopback (never the internet)."""

import hashlib
import http.server
import threading
from functools import partial

import pytest

from convnet.data.download import ensure_downloaded
from convnet.data.sources import load_dataset
from convnet.errors import DataError, NetworkError
from helpers import assert_one_line_error, cli, write_idx_set


@pytest.fixture
def mirror(tmp_path):
    """A loopback HTTP server serving a folder of IDX files; yields (base_url, checksums)."""
    served = write_idx_set(tmp_path / "served" / "mnist")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sums = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in served.iterdir()}
    yield f"http://127.0.0.1:{server.server_port}/", sums
    server.shutdown()


def test_download_verifies_and_caches(mirror, tmp_path):
    base, sums = mirror
    folder = ensure_downloaded("mnist", root=tmp_path / "cache", mirrors=[base + "mnist/"], checksums=sums)
    assert sorted(p.name for p in folder.iterdir()) == sorted(sums)
    assert not list(folder.glob(".*tmp"))                           # no temporary files left
    # a second call finds the verified files and does not fetch again
    ensure_downloaded("mnist", root=tmp_path / "cache", mirrors=["http://127.0.0.1:9/"], checksums=sums)


def test_checksum_mismatch_is_refused_and_nothing_written(mirror, tmp_path):
    base, sums = mirror
    bad = {name: "0" * 64 for name in sums}
    with pytest.raises(DataError, match="failed verification: .*SHA-256"):
        ensure_downloaded("mnist", root=tmp_path / "cache", mirrors=[base + "mnist/"], checksums=bad)
    assert not any((tmp_path / "cache").rglob("*ubyte*"))


def test_no_network_says_so(tmp_path):
    with pytest.raises(NetworkError, match="no network or source unreachable.*--data-dir"):
        ensure_downloaded("mnist", root=tmp_path, mirrors=["http://127.0.0.1:9/"], timeout=2)


def test_mirror_from_environment_feeds_the_loader(mirror, tmp_path, monkeypatch):
    base, sums = mirror
    monkeypatch.setenv("CONVNET_MIRROR", base + "{name}/")
    monkeypatch.setattr("convnet.data.download.SOURCES",
                        {"mnist": {"mirrors": [], "files": sums}})
    ds = load_dataset("mnist")                                       # no --data-dir: downloads
    assert len(ds.train) == 200 and len(ds.test) == 50


def test_cli_without_network_is_one_line(tmp_path):
    result = cli("train", "--data", "fashion-mnist", "--epochs", "1", "--out", tmp_path / "r")
    assert_one_line_error(result, "cannot download", "no network")
    assert not (tmp_path / "r").exists()
