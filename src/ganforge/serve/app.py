"""The HTTP API and the web page of `ganforge serve` (FastAPI), built from what each export declares.

Routes: `GET /` the page, `GET /static/...` its files, `GET /api/models`, `POST /api/generate`,
`POST /api/interpolate`, `POST /api/translate` (multipart image), `GET /api/drift`, `GET /healthz`, `GET /metrics`.
Bad input of any kind (unknown model, class or code, values out of range, malformed JSON, bodies or images too
large, files that are not images, paths outside the page's folder) is answered with a 4xx and a JSON body
`{"error": "what is wrong and what to do"}`; a 500 means a bug.
"""

from __future__ import annotations

import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import GanforgeError
from ..sampling import make_grid_image
from .batching import MicroBatcher
from .models import ImageTooLarge, NotAnImage, ServedModel
from .telemetry import Telemetry

STATIC = Path(__file__).with_name("static")
INT64 = 2 ** 63
Seed = Annotated[int, Field(strict=True, ge=-INT64, le=INT64 - 1)]
Count = Annotated[int, Field(strict=True, ge=1)]
Psi = Annotated[float, Field(gt=0, allow_inf_nan=False)]
CodeValue = StrictInt | StrictFloat | StrictStr


@dataclass
class ServeSettings:
    """The server's limits and batching; every field is a `ganforge serve` flag."""

    max_n: int = 64  # images per request (generate n, interpolate steps)
    max_body_bytes: int = 8 * 2 ** 20  # request bodies, uploads included
    max_image_pixels: int = 4_000_000  # pixels of an uploaded image
    max_batch: int = 64  # rows per forward pass; 1 turns micro-batching off
    batch_wait_ms: float = 2.0  # how long a forward waits for more requests to join it
    rate_limit: float = 0.0  # requests per second per client on /api/ (0: no limit)
    rate_burst: int = 20  # requests a client may send at once before the rate applies


class UnknownModel(GanforgeError):
    """A request for a model the server does not serve."""


class TooLarge(StarletteHTTPException):
    """A request body over the server's limit, found while it is read (an HTTP error, so that FastAPI's body
    parsing passes it on rather than calling it a parse error)."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


STATUS = {UnknownModel: 404, NotAnImage: 415, ImageTooLarge: 413}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: StrictStr
    label: StrictInt | None = Field(None, alias="class")
    codes: dict[StrictStr, CodeValue] = Field(default_factory=dict)
    truncation: Psi | None = None
    format: Literal["png", "json"] = "png"


class GenerateBody(_Body):
    n: Count = 1
    seed: Seed = 0
    nrow: Count | None = None


class InterpolateBody(_Body):
    seed_a: Seed = 1
    seed_b: Seed = 2
    steps: Annotated[int, Field(strict=True, ge=2)] = 8


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
    if first.get("type") == "json_invalid":
        return 400, "the body is not valid JSON; send a JSON object such as {\"model\": \"NAME\", \"n\": 4}"
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return 422, f"{where}: {first.get('msg', 'invalid')}"


def _png(images: torch.Tensor, nrow: int | None, padding: int = 2) -> bytes:
    buffer = io.BytesIO()
    make_grid_image(images, nrow, padding).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _encoded(images: torch.Tensor) -> dict[str, Any]:
    """Each image as a base64 PNG, with the images' size."""
    return {"images": [base64.b64encode(_png(image[None], 1, 0)).decode() for image in images],
            "width": images.shape[3], "height": images.shape[2], "channels": images.shape[1]}


class _Limits:
    """Pure ASGI middleware: body size cap, per-client rate limit, and the request metrics of every response."""

    def __init__(self, app: Any, settings: ServeSettings, telemetry: Telemetry) -> None:
        self.app, self.settings, self.telemetry = app, settings, telemetry
        self.buckets: dict[str, tuple[float, float]] = {}

    def _allowed(self, client: str) -> bool:
        rate = self.settings.rate_limit
        now = time.monotonic()
        tokens, last = self.buckets.get(client, (float(self.settings.rate_burst), now))
        tokens = min(float(self.settings.rate_burst), tokens + (now - last) * rate)
        self.buckets[client] = (tokens - 1, now) if tokens >= 1 else (tokens, now)
        return tokens >= 1

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, sending)
        finally:
            route = scope.get("route")
            self.telemetry.request(getattr(route, "path", "unmatched"), status[0], time.perf_counter() - start)

    async def _handle(self, scope: dict, receive: Any, send: Any) -> None:
        limit = self.settings.max_body_bytes
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            message = (f"the request body is {int(length):,} bytes, more than this server's {limit:,} "
                       f"(--max-body-mb)" if length.isdigit() else "the Content-Length header is not a number")
            await _error(413 if length.isdigit() else 400, message)(scope, receive, send)
            return
        if (self.settings.rate_limit > 0 and scope["path"].startswith("/api/")
                and not self._allowed((scope.get("client") or ("?",))[0])):
            await _error(429, f"over {self.settings.rate_limit:g} requests/s from this client (--rate-limit); "
                              f"slow down")(scope, receive, send)
            return
        received = [0]

        async def counted() -> dict:  # a chunked body has no Content-Length to check up front
            message = await receive()
            received[0] += len(message.get("body", b""))
            if received[0] > limit:
                raise TooLarge(f"the request body is over this server's {limit:,} bytes (--max-body-mb)")
            return message

        await self.app(scope, counted, send)


def create_app(models: dict[str, ServedModel], settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI application serving `models` (from `load_served`) under `settings`."""
    settings = settings or ServeSettings()
    telemetry = Telemetry()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganforge-forward")

    def forward_of(model: ServedModel):
        def forward(values: dict[str, torch.Tensor]) -> torch.Tensor:
            images = model.sampler.decode(values)  # inference_mode, in the sampler's batches, on its device
            model.observe(images)
            return images
        return forward

    batchers = {name: MicroBatcher(forward_of(model), executor, settings.max_batch, settings.batch_wait_ms / 1000,
                                   on_batch=lambda size, name=name: telemetry.batch(name, size))
                for name, model in models.items()}

    async def lifespan(app: FastAPI):
        yield
        for batcher in batchers.values():
            await batcher.close()
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="ganforge", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.models, app.state.settings, app.state.telemetry = models, settings, telemetry
    app.state.batchers = batchers

    def model_of(name: str) -> ServedModel:
        if name not in models:
            raise UnknownModel(f"no model '{name}'; this server has: {', '.join(models)} (GET /api/models)")
        return models[name]

    def check_count(value: int, what: str) -> None:
        if value > settings.max_n:
            raise GanforgeError(f"{what}={value} is more than this server's cap of {settings.max_n} per request "
                                f"(--max-n); ask for fewer")

    async def planned(plan, *args: Any) -> dict[str, torch.Tensor]:
        """Inputs planned from the declaration; a value of the wrong type is the client's error."""
        try:
            return plan(*args)
        except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
            raise GanforgeError(f"a value in the request does not fit the model's inputs ({exc})") from None

    def encoder(fmt: str, nrow: int | None) -> Any:
        """What the worker thread makes of a request's images: a PNG grid, or a list of base64 PNGs."""
        return _encoded if fmt == "json" else (lambda images: _png(images, nrow))

    async def respond(name: str, values: dict[str, torch.Tensor], fmt: str, nrow: int | None,
                      start: float, extra: dict[str, Any]) -> Response:
        encoded = await batchers[name].submit(values, encoder(fmt, nrow))
        latency = (time.perf_counter() - start) * 1000
        count = next(iter(values.values())).shape[0]
        headers = {"X-Latency-Ms": f"{latency:.2f}", "X-Images": str(count), "Cache-Control": "no-store"}
        if fmt == "json":
            return JSONResponse({"model": name, **encoded, "latency_ms": round(latency, 3), **extra},
                                headers=headers)
        return Response(encoded, media_type="image/png", headers=headers)

    @app.exception_handler(GanforgeError)
    async def _ganforge_error(request: Request, exc: GanforgeError) -> JSONResponse:
        return _error(STATUS.get(type(exc), 422), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(*_validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reasons = {404: f"no such page '{request.url.path}'; the API is under /api/ (GET /api/models)",
                   405: f"{request.method} is not allowed on {request.url.path}"}
        return _error(exc.status_code, reasons.get(exc.status_code, str(exc.detail)))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{path:path}", include_in_schema=False)
    async def static(path: str) -> Response:
        root = STATIC.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return _error(404, f"no file '{path}' in the page's folder")
        return FileResponse(target)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": list(models)}

    @app.get("/api/models")
    async def list_models() -> dict[str, Any]:
        return {"models": [model.describe() for model in models.values()],
                "limits": {"max_n": settings.max_n, "max_body_bytes": settings.max_body_bytes,
                           "max_image_pixels": settings.max_image_pixels}}

    @app.post("/api/generate")
    async def generate(body: GenerateBody) -> Response:
        start = time.perf_counter()
        model = model_of(body.model)
        check_count(body.n, "n")
        values = await planned(model.generation_inputs, body.n, body.seed, body.label, body.codes, body.truncation)
        return await respond(model.name, values, body.format, body.nrow, start, {"seed": body.seed})

    @app.post("/api/interpolate")
    async def interpolate(body: InterpolateBody) -> Response:
        start = time.perf_counter()
        model = model_of(body.model)
        check_count(body.steps, "steps")
        values = await planned(model.interpolation_inputs, body.seed_a, body.seed_b, body.steps, body.label,
                               body.codes, body.truncation)
        return await respond(model.name, values, body.format, body.steps, start,
                             {"seed_a": body.seed_a, "seed_b": body.seed_b})

    @app.post("/api/translate")
    async def translate(request: Request) -> Response:
        start = time.perf_counter()
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise GanforgeError("send the image as multipart/form-data: fields 'model' and 'image' (a file), e.g. "
                                "curl -F model=NAME -F image=@photo.png")
        try:
            form = await request.form(max_files=1, max_fields=16, max_part_size=settings.max_body_bytes)
        except StarletteHTTPException:
            raise
        except Exception as exc:  # the multipart parser's errors are the client's
            raise GanforgeError(f"the multipart body cannot be read ({exc})") from None
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise GanforgeError("no file in the multipart field 'image'; send -F image=@FILE")
        model = model_of(fields.pop("model", ""))
        fmt = fields.pop("format", "png")
        if fmt not in ("png", "json"):
            raise GanforgeError(f"format '{fmt}': choose png or json")
        data = await upload.read()
        values = await run_in_threadpool(model.translation_inputs, data, fields, settings.max_image_pixels)
        return await respond(model.name, values, fmt, 1, start, {})

    def drift_values() -> dict[str, dict[str, Any] | None]:
        return {name: model.drift() for name, model in models.items()}

    @app.get("/api/drift")
    async def drift() -> dict[str, Any]:
        return {"models": await run_in_threadpool(drift_values)}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        text = await run_in_threadpool(telemetry.render, drift_values)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    app.add_middleware(_Limits, settings=settings, telemetry=telemetry)
    return app

