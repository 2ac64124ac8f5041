"""The FastAPI app: /predict, /inspect, /model, /health, the page at /, the OpenAPI document.

Nothing here takes a path or URL from a client: the model is fixed when the app is built."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

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


def create_app(clf, limits: Limits | None = None) -> FastAPI:
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

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "queued": batcher.queued, **batcher.stats.to_dict()}

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
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        uploads = await _multipart(request, body, limits)
    else:
        uploads = [("body", body)]
    if not uploads or not any(data for _, data in uploads):
        raise HTTPException(422, "no image: send it as the raw body or in the multipart field 'file'")
    if len(uploads) > limits.max_batch:
        raise HTTPException(413, f"{len(uploads)} images in one request; the limit is {limits.max_batch}")
    return uploads


async def _multipart(request: Request, body: bytes, limits: Limits) -> list[tuple[str, bytes]]:
    from starlette.formparsers import MultiPartException

    sent = False

    async def replay():       # the body was already read (under the cap): hand it over again
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(
            max_files=limits.max_batch + 1, max_fields=limits.max_batch + 16,
            max_part_size=limits.max_upload)
    except (MultiPartException, ValueError, KeyError) as e:
        raise HTTPException(400, f"malformed multipart body: {getattr(e, 'message', e)}") from None
    uploads = []
    for i, part in enumerate(form.getlist("file")):
        if isinstance(part, str):
            uploads.append((f"file {i}", part.encode("utf-8", "surrogateescape")))
        else:
            uploads.append((part.filename or f"file {i}", await part.read()))
    await form.close()
    return uploads


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
