"""The FastAPI app: /predict, /inspect, /model, /health, the page at /, the OpenAPI document.

Nothing here takes a path or URL from a client: the model is fixed when the app is built.
Every error answer is JSON {"detail": "one line"}. Two plain ASGI guards sit in front: the
Host header must be one this server answers to (so a web page on another site cannot reach
a loopback server through DNS rebinding), and beyond `max_in_flight` requests whose headers
are complete the answer is 503 (idle connections, bounded in serve/protocol.py, do not count)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect

from convnet.data.images import open_image
from convnet.errors import DataError
from convnet.serve import render
from convnet.serve.batching import Batcher, QueueFull
from convnet.serve.images import TooLarge, read_capped, sniff

STATIC = Path(__file__).parent / "static"
CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'"
STAGE_KINDS = {"Conv2d", "ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "LeakyReLU", "MaxPool2d",
               "AvgPool2d", "AdaptiveAvgPool2d", "Linear"}
MAX_LAYERS = 40


@dataclass
class Limits:
    max_upload: int = 10 * 2**20    # bytes in one request body
    max_batch: int = 32             # images in one forward pass (and in one request)
    max_wait: float = 0.01          # seconds a forward pass waits for more images
    max_queue: int = 256            # images waiting; more get 503
    max_in_flight: int | None = None  # requests being handled at once; more get 503 (None: no cap)


class Error(BaseModel):
    detail: str | list[dict[str, Any]]


class ClassProbability(BaseModel):
    class_: str = Field(alias="class")
    probability: float


class Prediction(BaseModel):
    image: str
    top: list[ClassProbability]


class Predictions(BaseModel):
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    name: str
    runtime: str
    classes: list[str]
    input: dict[str, int]
    mean: list[float]
    std: list[float]
    parameters: int


class Layer(BaseModel):
    name: str
    kind: str
    shape: list[int]
    image: str


class Inspection(BaseModel):
    input: dict[str, Any]
    layers: list[Layer]
    note: str | None = None


ERRORS = {code: {"model": Error, "description": text} for code, text in {
    400: "malformed multipart body", 413: "upload over the size cap, or too many images",
    415: "a file that is not an image (judged by its bytes)",
    422: "an image that cannot be decoded or is over the pixel cap, or a bad parameter",
    503: "the queue is full; try again"}.items()}

UPLOAD = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def create_app(clf, limits: Limits | None = None, allowed_hosts: set[str] | None = None) -> FastAPI:
    """The app for `clf`. allowed_hosts: the Host header names answered (None: any)."""
    limits = limits or Limits()
    batcher = Batcher(clf.probabilities, limits.max_batch, limits.max_wait, limits.max_queue)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="convnet", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=f"Classify images with {_name(clf)} ({len(clf.classes)} classes).")
    app.state.batcher, app.state.classifier = batcher, clf
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(SecurityHeaders)
    in_flight = RequestCount()
    app.add_middleware(InFlightLimit, limit=limits.max_in_flight, counter=in_flight)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)   # added last: runs first

    @app.exception_handler(RequestValidationError)
    async def one_line_validation_error(request, exc):
        return JSONResponse({"detail": validation_message(exc.errors())}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        # in_flight: the other requests being handled now (this one not counted)
        return {"status": "ok", "queued": batcher.queued, "in_flight": in_flight.value - 1,
                **batcher.stats.to_dict()}

    @app.get("/model", response_model=ModelInfo)
    async def model() -> ModelInfo:
        return model_info(clf)

    @app.post("/predict", response_model=Predictions, responses=ERRORS, openapi_extra=UPLOAD)
    async def predict(request: Request, top: int = Query(5, ge=1, le=1000,
                                                          description="classes to return per image")):
        """One or several images (multipart field `file`, repeatable) or one image as the raw
        body -> the `top` classes of each, most likely first."""
        with batcher.expect():
            uploads = await read_uploads(request, limits)
            images = await run_in_threadpool(decode_all, clf, uploads)       # uint8 [n, C, H, W]
        try:
            probs = await batcher.submit(images)
        except QueueFull as e:
            raise HTTPException(503, f"server busy: {e}", headers={"Retry-After": "1"}) from None
        k = min(top, len(clf.classes))
        values, index = probs.topk(k, dim=1)
        return {"predictions": [
            {"image": name, "top": [{"class": clf.classes[j], "probability": round(float(v), 6)}
                                    for v, j in zip(vs, js)]}
            for (name, _), vs, js in zip(uploads, values.tolist(), index.tolist())]}

    @app.post("/inspect", response_model=Inspection, responses=ERRORS, openapi_extra=UPLOAD)
    async def inspect(request: Request) -> Inspection:
        """One image -> the network's input as an image and each layer's activation maps."""
        uploads = await read_uploads(request, limits)
        if len(uploads) != 1:
            raise HTTPException(422, f"send one image to inspect, not {len(uploads)}")
        images = await run_in_threadpool(decode_all, clf, uploads)
        # On the forward thread: the hooks must not see another request's forward pass.
        return await batcher.run_alone(inspection, clf, images)

    return app


class SecurityHeaders:
    """Every response: only this server's own scripts, styles and images; no type sniffing.
    Plain ASGI: Starlette's BaseHTTPMiddleware adds a task and a stream to every request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _json_error(call, status: int, detail: str, headers: tuple = ()) -> None:
    """Answer a plain ASGI call (scope, receive, send) with the app's error form, {"detail": "..."}."""
    await JSONResponse({"detail": detail}, status_code=status, headers=dict(headers))(*call)


class HostCheck:
    """Only Host names in `allowed` (any port): a browser tricked by DNS rebinding into
    sending a page's requests to this loopback server still sends the attacker's name."""

    def __init__(self, app, allowed: set[str]):
        self.app, self.allowed = app, {h.lower() for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or "*" in self.allowed:
            return await self.app(scope, receive, send)
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host_name(host) not in self.allowed:
            shown = host if len(host) <= 60 else host[:60] + "..."
            return await _json_error((scope, receive, send), 400,
                                     f"Host {shown!r} is not a name this server answers to "
                                     "(convnet serve --allowed-host NAME adds one)")
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1', lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass
class RequestCount:
    value: int = 0


class InFlightLimit:
    """Counts the requests being handled (headers complete, answer not yet sent) in `counter`;
    beyond `limit` of them (None: no cap) the answer is 503."""

    def __init__(self, app, limit: int | None, counter: RequestCount):
        self.app, self.limit, self.counter = app, limit, counter

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.limit is not None and self.counter.value >= self.limit:
            return await _json_error((scope, receive, send), 503,
                                     f"server busy: {self.counter.value} requests in progress "
                                     f"(the cap is {self.limit})", (("retry-after", "1"),))
        self.counter.value += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.counter.value -= 1


def validation_message(errors) -> str:
    """FastAPI's list of validation errors as one line: 'top: Input should be ... (got '0')'."""
    parts = []
    for e in errors:
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path"))
        got = f" (got {e['input']!r})" if isinstance(e.get("input"), (str, int, float)) else ""
        parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}{got}")
    return "; ".join(parts) or "invalid request"


def model_info(clf) -> ModelInfo:
    pre = clf.preprocess
    params = getattr(clf, "parameters", None)
    if not isinstance(params, int):
        params = sum(p.numel() for p in clf.model.parameters())
    return ModelInfo(name=_name(clf), runtime=getattr(clf, "runtime", "torch"), classes=clf.classes,
                     input={"channels": pre.channels, "height": pre.size[0], "width": pre.size[1]},
                     mean=list(pre.mean), std=list(pre.std), parameters=params)


def _name(clf) -> str:
    return clf.config.get("model", {}).get("name", "model")


async def read_uploads(request: Request, limits: Limits) -> list[tuple[str, bytes]]:
    """(name, bytes) of each uploaded file: multipart field `file`, or the whole raw body."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_upload:
        raise HTTPException(413, f"upload of {int(declared):,} bytes is over the cap of "
                                 f"{limits.max_upload:,} bytes")
    try:
        body = await read_capped(request.stream(), limits.max_upload)
    except TooLarge as e:
        raise HTTPException(413, str(e)) from None
    except ClientDisconnect:      # gone mid-upload (or timed out): nobody to answer, nothing to log
        raise HTTPException(400, "the client disconnected before the body was complete") from None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        uploads = _multipart(request.headers["content-type"], body, limits)
    else:
        uploads = [("body", body)]
    if not uploads or not any(data for _, data in uploads):
        raise HTTPException(422, "no image: send it as the raw body or in the multipart field 'file'")
    if len(uploads) > limits.max_batch:
        raise HTTPException(413, f"{len(uploads)} images in one request; the limit is {limits.max_batch}")
    return uploads


def _multipart(content_type: str, body: bytes, limits: Limits) -> list[tuple[str, bytes]]:
    """(name, bytes) of each part in field `file`, a filename or not (bytes kept as sent)."""
    from convnet.serve.multipart import MalformedMultipart, parse

    try:
        parts = parse(content_type, body, max_parts=limits.max_batch + 16)
    except MalformedMultipart as e:
        raise HTTPException(400, f"malformed multipart body: {e}") from None
    return [(p.filename or f"file {i}", bytes(p.data))
            for i, p in enumerate(q for q in parts if q.name == "file")]


def decode_all(clf, uploads: list[tuple[str, bytes]]) -> torch.Tensor:
    """Check each file's type by its bytes (415), decode it under the pixel cap (422)."""
    images = []
    for name, data in uploads:
        if sniff(data) is None:
            raise HTTPException(415, f"{name}: not an image (PNG, JPEG, GIF, BMP, TIFF or WebP), "
                                     f"judged by its first bytes {data[:8]!r}")
        try:
            images.append(clf.to_uint8(open_image(data, clf.mode, name=name)))
        except DataError as e:
            raise HTTPException(422, str(e)) from None
    return torch.stack(images)                      # [n, C, H, W]


def inspection(clf, images: torch.Tensor) -> dict:
    """The normalised input and the maps of the conv, activation, pooling and linear layers."""
    x = clf.preprocess(images[:1], "cpu")                                  # [1, C, H, W]
    shown = {"image": render.network_input(x[0]), "min": float(x.min()), "max": float(x.max()),
             "shape": list(x.shape[1:])}
    if getattr(clf, "model", None) is None:
        return {"input": shown, "layers": [], "note": "activation maps need the PyTorch runtime"}
    from convnet.visualize.activations import layer_outputs

    model = clf.model
    device = next(model.parameters()).device
    _, outs = layer_outputs(model, x.to(device), tuple(STAGE_KINDS))
    layers = [{"name": o.name, "kind": o.kind, "shape": list(o.output.shape[1:]),
               "image": render.map_grid(o.output[0])} for o in outs[:MAX_LAYERS]]
    note = f"first {MAX_LAYERS} of {len(outs)} layers" if len(outs) > MAX_LAYERS else None
    return {"input": shown, "layers": layers, "note": note}
