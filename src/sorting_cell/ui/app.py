"""The page's web application (Starlette): the page, its WebSocket, commands and files.

Routes (every one but the page itself needs the token when one is set: ``?token=`` or the
``X-Token`` header)::

    GET  /                      the page (static; holds no data)
    WS   /ws                    JSON state when it changes, JPEG camera frames as binary
    GET  /api/state             the same JSON state once
    GET  /frame.jpg             the latest camera frame
    GET  /thumb/{sort}/{object} an object's thumbnail from its sort's snapshot
    POST /api/sort {num_boxes}  start a sort;  POST /api/cancel;  POST /api/continue
    GET  /files/{path}          a file of the run's output folder (the sorts' report.html)

Browsers let any web site send requests to 127.0.0.1, so commands also need a JSON body
(a cross-site form cannot send one without a CORS preflight, which this app never answers),
a request whose Origin is another site is refused, and bound to loopback the Host header
must name loopback (DNS rebinding).
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Callable, Protocol
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .access import AccessError, UnsafePath, check_token, safe_path
from .state import CellView

__all__ = ['make_app', 'Commands', 'CommandError', 'PAGE', 'LOOPBACK_HOSTS']

PAGE = Path(__file__).resolve().parent / 'static' / 'index.html'
LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '::1', '[::1]']
MAX_BOXES = 255


class CommandError(RuntimeError):
    """A command the cell cannot carry out now (the message says why)."""


class Commands(Protocol):
    """What the page can ask of the cell; each returns a line for the operator."""

    def start(self, num_boxes: int) -> str: ...

    def cancel(self) -> str: ...

    def resume(self) -> str: ...


def _same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get('origin')
    if origin is None:
        return True   # not sent by a browser page (curl, scripts): the token decides
    return urlsplit(origin).netloc == conn.headers.get('host', '')


def make_app(view: CellView, commands: Commands, out_dir: str | Path,
             token: str | None = None, loopback: bool = True,
             thumbs: Callable[[str, str], bytes | None] | None = None,
             period_s: float = 0.1) -> Starlette:
    """The application.

    Parameters
    ----------
    view : CellView
        What the page shows (written by the ROS node).
    commands : Commands
        Start / cancel / continue a sort.
    out_dir : path
        The run's output folder: the only folder files are served from.
    token : str or None
        Required on everything but the page itself; None = open (loopback only).
    loopback : bool
        Bound to a loopback address: only loopback Host headers are accepted.
    thumbs : callable, optional
        ``(sort_id, object_id) -> JPEG bytes or None``.
    period_s : float
        How often the WebSocket looks for news.
    """
    out_dir = Path(out_dir)
    if token is None and not loopback:
        raise ValueError('a page bound beyond loopback needs a token')

    def guard(conn: HTTPConnection) -> Response | None:
        if not _same_origin(conn):
            return JSONResponse({'error': 'cross-site request refused'}, status_code=403)
        try:
            check_token(conn.headers.get('x-token') or conn.query_params.get('token'), token)
        except AccessError as exc:
            return JSONResponse({'error': str(exc)}, status_code=401)
        return None

    async def page(request: Request) -> Response:
        return FileResponse(PAGE, media_type='text/html',
                            headers={'Cache-Control': 'no-store'})

    async def state(request: Request) -> Response:
        return guard(request) or JSONResponse(view.snapshot())

    async def frame(request: Request) -> Response:
        refused = guard(request)
        if refused:
            return refused
        _, jpeg = view.frame()
        if not jpeg:
            return JSONResponse({'error': 'no camera image yet'}, status_code=404)
        return Response(jpeg, media_type='image/jpeg', headers={'Cache-Control': 'no-store'})

    async def thumb(request: Request) -> Response:
        refused = guard(request)
        if refused:
            return refused
        data = None if thumbs is None else await run_in_threadpool(
            thumbs, request.path_params['sort_id'], request.path_params['object_id'])
        if not data:
            return JSONResponse({'error': 'no such object'}, status_code=404)
        return Response(data, media_type='image/jpeg',
                        headers={'Cache-Control': 'max-age=3600'})

    async def files(request: Request) -> Response:
        refused = guard(request)
        if refused:
            return refused
        try:
            path = safe_path(out_dir, request.path_params['path'])
        except UnsafePath as exc:
            return JSONResponse({'error': str(exc)}, status_code=403)
        except (FileNotFoundError, NotADirectoryError):
            return JSONResponse({'error': 'not found'}, status_code=404)
        return FileResponse(path)

    async def command(request: Request) -> Response:
        refused = guard(request)
        if refused:
            return refused
        if request.headers.get('content-type', '').split(';')[0].strip() != 'application/json':
            return JSONResponse({'error': 'commands are JSON (Content-Type: application/json)'},
                                status_code=415)
        try:
            body = json.loads(await request.body() or b'{}')
        except ValueError:
            return JSONResponse({'error': 'the body is not JSON'}, status_code=400)
        name = request.path_params['name']
        try:
            if name == 'sort':
                n = body.get('num_boxes') if isinstance(body, dict) else None
                if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_BOXES:
                    return JSONResponse({'error': f'num_boxes must be an integer from 1 to '
                                                  f'{MAX_BOXES}, got {n!r}'}, status_code=400)
                text = await run_in_threadpool(commands.start, n)
            elif name == 'cancel':
                text = await run_in_threadpool(commands.cancel)
            elif name == 'continue':
                text = await run_in_threadpool(commands.resume)
            else:
                return JSONResponse({'error': f'unknown command {name!r}'}, status_code=404)
        except CommandError as exc:
            view.note(f'{name}: {exc}', error=True)
            return JSONResponse({'error': str(exc)}, status_code=409)
        except Exception as exc:  # noqa: BLE001 -- the operator must see every failure
            view.note(f'{name}: failed: {type(exc).__name__}: {exc}', error=True)
            return JSONResponse({'error': f'{type(exc).__name__}: {exc}'}, status_code=500)
        view.note(f'{name}: {text}')
        return JSONResponse({'ok': True, 'message': text})

    async def stream(ws: WebSocket) -> None:
        if not _same_origin(ws):
            await ws.close(code=1008)
            return
        try:
            check_token(ws.query_params.get('token'), token)
        except AccessError:
            await ws.close(code=1008)   # policy violation: the handshake is refused
            return
        await ws.accept()
        view.clients += 1
        # The page only listens; a receive that completes means it went away.
        gone = asyncio.ensure_future(ws.receive())
        sent_version = sent_frame = -1
        try:
            while True:
                if gone.done():
                    if gone.result().get('type') == 'websocket.disconnect':
                        break
                    gone = asyncio.ensure_future(ws.receive())
                if view.version != sent_version:
                    snap = view.snapshot()
                    await ws.send_text(json.dumps(snap))
                    sent_version = snap['version']
                seq, jpeg = view.frame()
                if seq != sent_frame and jpeg:
                    await ws.send_bytes(jpeg)
                    sent_frame = seq
                await asyncio.sleep(period_s)
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass
        finally:
            gone.cancel()
            view.clients -= 1

    routes = [Route('/', page), Route('/api/state', state), Route('/frame.jpg', frame),
              Route('/thumb/{sort_id}/{object_id:path}', thumb),
              Route('/files/{path:path}', files),
              Route('/api/{name}', command, methods=['POST']),
              WebSocketRoute('/ws', stream)]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)] \
        if loopback else []
    return Starlette(routes=routes, middleware=middleware)
