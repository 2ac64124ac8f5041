"""convnet serve: an HTTP API and a web page for a trained run (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse

from convnet.cli.limits import MAX_THREADS, int_in
from convnet.cli.options import device_name, non_negative_float, positive_float, positive_int

HELP = "serve a trained run over HTTP: JSON API and a web page"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 picks a free one)")
    return value


MAX_UPLOAD_MIB = 1024     # a request body is held in memory whole: 1 GiB is far beyond any image


def upload_mib(text: str) -> float:
    value = positive_float(text)
    if value > MAX_UPLOAD_MIB:       # 1e308 MiB would overflow the byte count
        raise argparse.ArgumentTypeError(f"{value:g} is more than {MAX_UPLOAD_MIB:,} MiB (the cap)")
    return value


def seconds(text: str) -> float:
    value = positive_float(text)
    if value > 3600:
        raise argparse.ArgumentTypeError(f"{value:g} is more than 3600 seconds (the cap)")
    return value


def allowed_hosts(host: str, extra: list[str]) -> set[str]:
    """The Host header names to answer: the loopback names for a loopback --host, the --host
    itself otherwise, any name for a wildcard address (the server's names are not known)."""
    from convnet.serve.app import host_name

    if host in ("0.0.0.0", "::", ""):
        return {"*"}
    names = set(LOOPBACK) if host in LOOPBACK else {host_name(host)}
    return names | {host_name(h) if h != "*" else "*" for h in extra}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, or an .onnx file with --runtime onnx")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port_number, default=8000, help="default 8000; 0 picks a free port")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="onnx: run RUN_DIR/model.onnx in onnxruntime (made by `convnet export`)")
    p.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS),
                   help="CPU threads per forward pass (default: all cores). On a CPU shared with other "
                        "work, 1 can be several times faster: see BENCHMARKS.md")
    p.add_argument("--max-batch", type=positive_int, default=32,
                   help="most images in one forward pass and in one request (default 32)")
    p.add_argument("--max-wait-ms", type=non_negative_float, default=10.0,
                   help="how long a forward pass waits for requests that are on their way (default 10)")
    p.add_argument("--max-queue", type=positive_int, default=256,
                   help="images allowed to wait; beyond it requests get 503 (default 256)")
    p.add_argument("--max-upload-mb", type=upload_mib, default=10.0,
                   help=f"largest request body in MiB; larger get 413 (default 10, at most {MAX_UPLOAD_MIB:,})")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host header name to answer besides the defaults (repeatable; '*': any). "
                        "Default: localhost, 127.0.0.1 and ::1 for a loopback --host, else --host itself "
                        "(any name when listening on every address)")
    p.add_argument("--header-timeout", type=seconds, default=10.0,
                   help="seconds a client has to send a request's headers (default 10)")
    p.add_argument("--body-timeout", type=seconds, default=60.0,
                   help="seconds a client has to send a request's body after its headers (default 60)")
    p.add_argument("--max-connections-per-client", type=int_in(1, 4096), default=64, metavar="N",
                   help="open connections one client address may hold; more are refused (default 64)")


def run(args) -> int:
    import socket

    import uvicorn

    from convnet.data.images import max_pixels
    from convnet.errors import ConfigError
    from convnet.export import load_classifier
    from convnet.serve.app import Limits, create_app
    from convnet.serve.protocol import Guards, guarded_protocol

    max_pixels()            # a bad CONVNET_MAX_PIXELS is refused now, not in every request
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)       # before loading: onnxruntime reads it too
    clf = load_classifier(args.run_dir, args.runtime, device=args.device)
    # Requests in flight beyond max_in_flight get the app's 503, so a burst of uploads cannot
    # exhaust memory; below it, requests beyond --max-queue get the batcher's 503. Only
    # requests with complete headers count: connections are bounded by serve/protocol.py.
    limits = Limits(max_upload=int(args.max_upload_mb * 2**20), max_batch=args.max_batch,
                    max_wait=args.max_wait_ms / 1000, max_queue=args.max_queue,
                    max_in_flight=max(64, args.max_queue + 16))
    guards = Guards(header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                    per_client=args.max_connections_per_client)
    sock = _bind(args.host, args.port, ConfigError)
    host, port = sock.getsockname()[:2]
    app = create_app(clf, limits, allowed_hosts(args.host, args.allowed_host))
    config = uvicorn.Config(app, log_level="error", access_log=False, http=guarded_protocol(guards),
                            timeout_keep_alive=5)
    if args.host not in LOOPBACK:
        print(f"warning: listening on {args.host}: other machines can reach this server")
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {args.run_dir} ({args.runtime}) at http://{shown}:{port}/  (Ctrl-C stops)",
          flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _bind(host: str, port: int, error) -> "socket.socket":
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise error(f"--host {host}: unknown address ({e.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it, Nagle's algorithm holds a response's body
    # until the client acknowledges its headers, ~40 ms per request on a kept-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise error(f"cannot listen on {host}:{port} ({e.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
