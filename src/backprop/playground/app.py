"""The playground's web app: the page and the JSON API it uses, on Starlette.

Routes (every body and answer is JSON unless named otherwise):

=======================  ================================================================
``GET /``                the page (``static/index.html``); ``/static/...`` its CSS and JS
``GET /api/state``       ``{"epoch", "loss", "accuracy", "test_loss", "test_accuracy", ...}``
``POST /api/config``     any subset of the settings (:data:`~backprop.playground.session.SETTINGS`)
``POST /api/step``       ``{"steps": n}`` (1 to 1000): trains n epochs; the state and the trace
``POST /api/reset``      new weights from the seed, epoch 0
``GET /api/trace``       ``?sample=k``: z, a, f', δ, ΔW of every neuron (:func:`backprop.explain`)
``POST /api/gradcheck``  ``{"sample": k}``: :func:`backprop.gradcheck` near sample k
``GET /download/...``    ``model.safetensors``, ``model.onnx``, ``report.html``
=======================  ================================================================

Safe by default: the server binds 127.0.0.1 (:func:`serve`); a request whose
``Host`` is not a loopback name is refused (a page elsewhere cannot reach it
by rebinding its DNS name to 127.0.0.1); a ``POST`` from another origin
(``Origin``, else ``Sec-Fetch-Site`` or ``Referer``) is refused with 403, and
must carry JSON (``Content-Type: application/json``), which a plain form on
another site cannot send; bodies are capped at :data:`MAX_BODY` bytes; a
library error (:class:`BackpropError`) is a 400 with its message as
``{"error": ...}``.
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ..errors import BackpropError, ParameterError, optional_module
from .session import Session

INSTALL_HINT = "pip install 'backprop[playground]'"
MAX_BODY = 64 * 1024
"""The largest request body accepted, in bytes."""
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# The page runs only its own script, loads nothing from elsewhere, and may not be framed by another site.
# Inline styles: the trace's tables (Trace.to_html) carry their own <style>; pictures are data: URLs.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
}

optional_module("starlette", "the playground", INSTALL_HINT)

from starlette.applications import Starlette  # noqa: E402 (after the check that names the extra)
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import HTMLResponse, Response  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402


class RequestError(Exception):
    """A request refused before it reaches the session: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _plain(value: Any) -> Any:
    """JSON values with non-finite floats as null (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _json(value: Any, status: int = 200) -> Response:
    body = json.dumps(_plain(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": "no-store"})


def _host_allowed(request: Request, hosts: tuple[str, ...]) -> bool:
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in hosts


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _check_same_origin(request: Request) -> None:
    """Refuse a state-changing request that another site's page sent (403)."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        if origin.lower() != own:
            raise RequestError(403, f"refused: this playground accepts changes only from its own page ({own})")
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise RequestError(403, f"refused: a {site} request may not change this playground")
        return
    referer = request.headers.get("referer")
    if referer is not None and _origin_of(referer) != own:
        raise RequestError(403, f"refused: this playground accepts changes only from its own page ({own})")


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``), at most :data:`MAX_BODY` bytes."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise RequestError(413, f"the request body must be at most {MAX_BODY:,} bytes")
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise RequestError(413, f"the request body must be at most {MAX_BODY:,} bytes")
    if not data.strip():
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise RequestError(415, f"the request body must be JSON (Content-Type: application/json), got {kind!r}")
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"the request body is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise RequestError(400, f"the request body must be a JSON object, got {type(value).__name__}")
    return value


Handler = Callable[[Request], Awaitable[Response]]


def create_app(session: Session, *, hosts: tuple[str, ...] = LOOPBACK) -> Starlette:
    """The playground's Starlette app for ``session``.

    Parameters
    ----------
    session : Session
    hosts : tuple of str, default ("127.0.0.1", "localhost", "[::1]")
        The host names (without port) the ``Host`` header may name.
    """

    def guarded(handler: Handler, changes: bool) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                if not _host_allowed(request, hosts):
                    raise RequestError(403, "refused: the playground answers only on its loopback address")
                if changes:
                    _check_same_origin(request)
                return await handler(request)
            except RequestError as error:
                return _json({"error": str(error)}, error.status)
            except BackpropError as error:
                return _json({"error": " ".join(str(error).split())}, 400)

        return endpoint

    async def page(_request: Request) -> Response:
        text = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")
        return HTMLResponse(text, headers={"Cache-Control": "no-store", **PAGE_HEADERS})

    async def state(_request: Request) -> Response:
        return _json(await run_in_threadpool(session.state))

    async def config(request: Request) -> Response:
        return _json(await run_in_threadpool(session.configure, await _body(request)))

    def fields(body: dict[str, Any], path: str, name: str) -> None:
        unknown = sorted(set(body) - {name})
        if unknown:
            raise RequestError(400, f"unknown field {unknown[0]!r}; {path} takes {{'{name}': n}}")

    async def step(request: Request) -> Response:
        body = await _body(request)
        fields(body, "/api/step", "steps")
        return _json(await run_in_threadpool(session.step, body.get("steps", 1)))

    async def reset(request: Request) -> Response:
        await _body(request)
        return _json(await run_in_threadpool(session.reset))

    def _sample(request: Request) -> int | str:
        text = request.query_params.get("sample", "0")
        return int(text) if text.isdigit() and len(text) < 10 else text

    async def trace(request: Request) -> Response:
        return _json(await run_in_threadpool(session.trace, _sample(request)))

    async def check(request: Request) -> Response:
        body = await _body(request)
        fields(body, "/api/gradcheck", "sample")
        return _json(await run_in_threadpool(session.check_gradient, body.get("sample", 0)))

    def attachment(name: str) -> dict[str, str]:
        return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}

    async def model(_request: Request) -> Response:
        data = await run_in_threadpool(session.model_bytes)
        return Response(data, media_type="application/octet-stream", headers=attachment("model.safetensors"))

    async def onnx(_request: Request) -> Response:
        data = await run_in_threadpool(session.onnx_bytes)
        return Response(data, media_type="application/octet-stream", headers=attachment("model.onnx"))

    async def report(_request: Request) -> Response:
        text = await run_in_threadpool(session.report_html)
        return HTMLResponse(text, headers=attachment("report.html"))

    static = StaticFiles(directory=str(resources.files(__package__).joinpath("static")))
    routes = [
        Route("/", guarded(page, False)),
        Route("/api/state", guarded(state, False)),
        Route("/api/config", guarded(config, True), methods=["POST"]),
        Route("/api/step", guarded(step, True), methods=["POST"]),
        Route("/api/reset", guarded(reset, True), methods=["POST"]),
        Route("/api/trace", guarded(trace, False)),
        Route("/api/gradcheck", guarded(check, True), methods=["POST"]),
        Route("/download/model.safetensors", guarded(model, False)),
        Route("/download/model.onnx", guarded(onnx, False)),
        Route("/download/report.html", guarded(report, False)),
        Mount("/static", app=static, name="static"),
    ]
    return Starlette(routes=routes)


def listen(port: int = 8000, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free one); loopback hosts only.

    Raises
    ------
    ParameterError
        ``host`` is not a loopback address.
    OSError
        The port is taken, or not ours to use.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ParameterError(f"the playground serves only on a loopback address, got host={host!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError:
        sock.close()
        raise
    return sock


def serve(session: Session, sock: socket.socket) -> None:
    """Serve the playground on the listening ``sock`` (see :func:`listen`) until interrupted (Ctrl-C).

    Raises
    ------
    MissingDependencyError
        uvicorn is not installed (the ``playground`` extra).
    """
    uvicorn = optional_module("uvicorn", "the playground", INSTALL_HINT)
    config = uvicorn.Config(create_app(session), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


__all__ = ["MAX_BODY", "create_app", "listen", "serve"]
