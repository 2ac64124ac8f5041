"""`convnet serve` against slow, greedy and odd clients, over loopback.

Slow connections come from other loopback addresses (127.0.0.2, ...: Linux routes all of
127/8 to the loopback interface), so the server sees them as other clients than the normal
one at 127.0.0.1. Waits are bounded polls for a state the server must reach, never sleeps
that hope something happened meanwhile."""

from __future__ import annotations

import io
import select
import socket
import time
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from convnet.serve.launch import ServerProcess

PARTIAL = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Never-Finished: "


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def connect(url: str, source: str = "127.0.0.1", first: bytes = PARTIAL) -> socket.socket:
    parts = urlsplit(url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.connect((parts.hostname, parts.port))
    s.sendall(first)
    return s


def closed_by_server(sockets: list[socket.socket], expect: int, wait: float) -> tuple[list, dict]:
    """(still open, {socket: bytes received before the close}) once `expect` of the sockets
    have been closed by the server, or after `wait` seconds (a bound, not an expectation)."""
    got = {s: b"" for s in sockets}
    done: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + wait
    while True:
        pending = [s for s in sockets if s not in done]
        finished = len(done) >= expect or time.monotonic() > deadline
        # once enough are closed, one last look without waiting picks up any extra close
        readable, _, _ = select.select(pending, [], [], 0 if finished else 0.5) if pending else ([], [], [])
        for s in readable:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[s] += chunk
            else:
                done[s] = got[s]
        if finished and not readable:
            return [s for s in sockets if s not in done], done


@pytest.fixture(scope="module")
def patient_server(digits_run):
    """Long header timeout: the slow connections stay open for the whole test."""
    with ServerProcess(digits_run, "--header-timeout", "600", "--max-connections-per-client", "60") as s:
        yield s


def test_slow_clients_do_not_lock_out_a_normal_one(patient_server):
    url = patient_server.url
    # 5 clients x 60 connections that never finish their headers: more than the 272 requests
    # in flight that the server allows, and each client at its per-client cap
    slow = [connect(url, f"127.0.0.{2 + c}") for c in range(5) for _ in range(60)]
    try:
        for _ in range(5):
            r = httpx.get(url + "/health", timeout=30)
            assert r.status_code == 200 and r.json()["status"] == "ok"
        r = httpx.post(url + "/predict", content=png(np.zeros((28, 28), np.uint8)), timeout=30)
        assert r.status_code == 200, r.text
        still_open, closed = closed_by_server(slow, expect=1, wait=5)    # look for 5 s
        assert len(still_open) == 300 and not closed          # none was refused or timed out
    finally:
        for s in slow:
            s.close()


def test_one_client_beyond_its_connection_cap_is_refused(patient_server):
    url = patient_server.url
    greedy = [connect(url, "127.0.0.9") for _ in range(75)]
    try:
        still_open, closed = closed_by_server(greedy, expect=15, wait=60)
        assert len(still_open) == 60 and len(closed) == 15
        assert all(b" 503 " in data and b"connections from one client (the cap)" in data
                   for data in closed.values())
        assert httpx.get(url + "/health", timeout=30).status_code == 200     # others unaffected
    finally:
        for s in greedy:
            s.close()
    # once they are gone the client may connect again
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        again = connect(url, "127.0.0.9", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = again.recv(65536)
        again.close()
        if b" 200 " in data:
            break
    assert b" 200 " in data


def test_headers_and_bodies_that_never_finish_are_timed_out(digits_run):
    with ServerProcess(digits_run, "--header-timeout", "1", "--body-timeout", "1") as server:
        url = server.url
        slow_headers = [connect(url) for _ in range(5)]
        body_start = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: image/png\r\n"
                      b"content-length: 100000\r\n\r\n" + png(np.zeros((28, 28), np.uint8))[:20])
        slow_bodies = [connect(url, first=body_start) for _ in range(5)]
        idle = [connect(url, first=b"") for _ in range(5)]
        still_open, closed = closed_by_server(slow_headers + slow_bodies + idle, expect=15, wait=120)
        assert still_open == []
        assert all(b" 408 " in closed[s] and b"headers not complete within 1 s" in closed[s]
                   for s in slow_headers)
        assert all(closed[s] == b"" for s in idle)             # nothing asked, nothing said
        assert httpx.get(url + "/health", timeout=30).status_code == 200
        wait_until_idle(url)
    assert "Traceback" not in server.output(last=None)


def wait_until_idle(url: str) -> None:
    """Until no other request is being handled (so their logging, if any, is done)."""
    deadline = time.monotonic() + 60
    while httpx.get(url + "/health", timeout=30).json()["in_flight"] > 0:
        assert time.monotonic() < deadline, "requests still in flight after 60 s"
        time.sleep(0.1)


def test_a_client_gone_mid_upload_logs_no_traceback(digits_run):
    with ServerProcess(digits_run) as server:
        for _ in range(3):
            s = connect(server.url, first=b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           b"content-type: image/png\r\ncontent-length: 500000\r\n\r\n"
                                           + b"\x89PNG\r\n\x1a\n" + bytes(20000))
            s.close()
        wait_until_idle(server.url)
    assert "Traceback" not in server.output(last=None), server.output()


@pytest.fixture(scope="module")
def server(digits_run):
    with ServerProcess(digits_run) as s:
        yield s.url


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "[::2]:80"])
def test_only_the_servers_own_host_names_are_answered(server, host):
    r = httpx.get(server + "/health", headers={"host": host}, timeout=30)
    assert r.status_code == 400
    assert "is not a name this server answers to" in r.json()["detail"] and "--allowed-host" in r.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "LOCALHOST:8000", "[::1]:8000", "localhost"])
def test_loopback_names_are_answered(server, host):
    assert httpx.get(server + "/health", headers={"host": host}, timeout=30).status_code == 200


def test_allowed_host_adds_a_name(digits_run):
    with ServerProcess(digits_run, "--allowed-host", "convnet.internal") as s:
        assert httpx.get(s.url + "/health", headers={"host": "convnet.internal:80"}).status_code == 200
        assert httpx.get(s.url + "/health", headers={"host": "other.internal"}).status_code == 400


def test_an_image_in_a_field_without_a_filename_is_accepted(server):
    image = png(np.full((28, 28), 255, np.uint8))
    # a part with no filename= in its Content-Disposition: a plain form field to Starlette
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".encode() + image
            + f"\r\n--{boundary}--\r\n".encode())
    r = httpx.post(server + "/predict", content=body, timeout=30,
                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 200, r.text
    by_body = httpx.post(server + "/predict", content=image, timeout=30).json()["predictions"][0]["top"]
    assert r.json()["predictions"][0]["top"] == by_body           # the very bytes sent


@pytest.mark.parametrize("query, fragment", [
    ("top=0", "top: Input should be greater than or equal to 1 (got '0')"),
    ("top=many", "top: Input should be a valid integer"),
    ("top=1001", "top: Input should be less than or equal to 1000"),
])
def test_bad_parameters_get_the_one_line_error_form(server, query, fragment):
    r = httpx.post(f"{server}/predict?{query}", content=png(np.zeros((9, 9), np.uint8)), timeout=30)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and fragment in detail


def test_a_truncated_multipart_body_is_400(server):
    image = png(np.zeros((9, 9), np.uint8))
    request = httpx.Request("POST", server + "/predict", files={"file": ("a.png", image)})
    body = request.read()
    r = httpx.post(server + "/predict", content=body[: len(body) // 2], timeout=30,
                   headers={"content-type": request.headers["content-type"]})
    assert r.status_code == 400 and "malformed multipart body" in r.json()["detail"]
