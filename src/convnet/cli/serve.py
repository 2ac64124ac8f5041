"""convnet serve: an HTTP API and a web page for a trained run (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from convnet.cli.limits import MAX_THREADS, int_in
from convnet.cli.options import device_name, non_negative_float, positive_float, positive_int
from convnet.settings import option

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


@dataclass
class ServeOptions:
    """Every `convnet serve` option but the run directory: its flags are generated from these
    fields (cli/fields.py), so each is declared once."""
    host: str = option("127.0.0.1", "address to listen on (127.0.0.1: this machine only)")
    port: int = option(8000, "TCP port; 0 picks a free one", kind=port_number)
    runtime: str = option("torch", "onnx: run RUN_DIR/model.onnx in onnxruntime (made by `convnet export`)",
                          choices=("torch", "onnx"))
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps", kind=device_name)
    threads: int | None = option(None, "CPU threads per forward pass (default: all cores). On a CPU shared "
                                 "with other work, 1 can be several times faster: see BENCHMARKS.md",
                                 kind=int_in(1, MAX_THREADS))
    max_batch: int = option(32, "most images in one forward pass and in one request", kind=positive_int)
    max_wait_ms: float = option(10.0, "how long a forward pass waits for requests that are on their way",
                                kind=non_negative_float)
    max_queue: int = option(256, "images allowed to wait; beyond it requests get 503", kind=positive_int)
    max_upload_mb: float = option(10.0, f"largest request body in MiB; larger get 413 (at most "
                                  f"{MAX_UPLOAD_MIB:,})", kind=upload_mib)
    allowed_host: list = option([], "a Host header name to answer besides the defaults (repeatable; '*': "
                                "any). Default: localhost, 127.0.0.1 and ::1 for a loopback --host, else "
                                "--host itself (any name when listening on every address)",
                                metavar="NAME", append=True)
    header_timeout: float = option(10.0, "seconds a client has to send a request's headers", kind=seconds)
    body_timeout: float = option(60.0, "seconds a client has to send a request's body after its headers",
                                 kind=seconds)
    max_connections_per_client: int = option(64, "open connections one client address may hold; more are "
                                             "refused", kind=int_in(1, 4096), metavar="N")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from convnet.cli.fields import add_dataclass_arguments

    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, or an .onnx file with --runtime onnx")
    add_dataclass_arguments(p, ServeOptions)


def run(args) -> int:
    import socket

    from convnet.cli.fields import given

    for name, value in vars(ServeOptions(**given(args, ServeOptions))).items():
        setattr(args, name, value)          # the flags left out take the fields' defaults

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
