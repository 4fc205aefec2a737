"""The page's routes: ``GET /`` (the runs, live, and the comparison of ticked runs),
``/ui/runs/{run_id}`` (a run: learning curve, log, cancel, resume, report), ``/ui/submit``
(a run, or a sweep over seeds), the comparison pages the API writes (``/ui/out/...``), the
pieces the page's script fetches again as events arrive, its script and style sheet, and
``/login`` / ``/logout`` when the service has an API key (``services.web.auth``).

Every page is behind the key: a request with the key's header, or with a live session's
cookie; a browser without either is sent to ``/login``. Without a key the page is open and
there is no login. The script and style sheet (``/ui/static/``) hold no data and are served to
anyone, so that the login form is styled.
"""

from __future__ import annotations

import asyncio
import functools
import html
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from string import Template
from typing import TYPE_CHECKING, Annotated, Final
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from services.events.schemas import EVENT_TYPES
from services.events.stream import STREAM
from services.store import UnknownRun, get_async, now, path_inside
from services.web import auth, views

if TYPE_CHECKING:
    from services.api.deps import Service

HERE: Final = Path(__file__).resolve().parent
TEMPLATES: Final = HERE / "templates"
STATIC: Final = HERE / "static"
#: The files of ``static/`` and their types.
STATIC_FILES: Final = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
#: Folders of the output root whose files ``/ui/out/`` serves: the comparisons of
#: ``POST /compare`` and of sweeps (their pages, plots and CSVs).
PAGE_FOLDERS: Final = ("service/comparisons", "service/sweeps")
#: The page's own headers: nothing from elsewhere, no framing, no caching (it holds the
#: session's CSRF token).
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: A wrong key at the login waits this long (a little brake on guessing).
LOGIN_DELAY_S: Final = 0.5
#: What a run id may look like (as ``services.api.deps.RUN_ID``).
_RUN_ID: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
#: A path of this site to go back to after the login: no scheme, host, backslash or space.
_LOCAL: Final = re.compile(r"^/[^\s\\]{0,500}$")

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Access:
    """Who is asking, once let in.

    Attributes:
        csrf: The token the page embeds for its state-changing requests (empty without a
            session: the service has no key, or the request sent the key).
        session: Whether by a session's cookie (the page offers a logout).
    """

    csrf: str = ""
    session: bool = False


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def access(request: Request) -> Access | None:
    """How the request is let in, or ``None`` (no key, a wrong one, no live session)."""
    service = _service(request)
    key = service.settings.api_key
    if not key:
        return Access()
    given = auth.header_key(request.headers.get("x-api-key"), request.headers.get("authorization"))
    if given is not None:
        return Access() if auth.same(given, key) else None
    session_id = await auth.session_of(request, service.aredis, key)
    if session_id is None:
        return None
    return Access(csrf=auth.csrf_token(key, session_id), session=True)


async def _let_in(request: Request) -> Access:
    """The request's :class:`Access`; 401 (the API's error shape) when it has none."""
    let_in = await access(request)
    if let_in is None:
        raise HTTPException(401, "log in first (or send the service's key as X-API-Key)")
    return let_in


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _local(target: str) -> str:
    """``target`` when it is a path of this site (never another site), else ``/``."""
    if not _LOCAL.fullmatch(target) or target.startswith(("//", "/login", "/logout")):
        return "/"
    return target


@functools.cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _page(
    title: str,
    page: str,
    body: str,
    let_in: Access,
    *,
    status: int = 200,
    data: dict[str, str] | None = None,
) -> HTMLResponse:
    """A whole page: ``body`` in the layout (header, navigation, logout)."""
    attributes = "".join(
        f' data-{name}="{html.escape(value, quote=True)}"' for name, value in (data or {}).items()
    )
    logout = ""
    if let_in.session:
        logout = (
            '<form method="post" action="/logout" class="logout">'
            f'<input type="hidden" name="csrf" value="{let_in.csrf}">'
            '<button type="submit">Log out</button></form>'
        )
    nav = "".join(
        f'<a href="{href}"{" class=current" if name == page else ""}>{label}</a>'
        for name, href, label in (("runs", "/", "Runs"), ("submit", "/ui/submit", "Submit"))
    )
    text = _template("layout.html").substitute(
        title=html.escape(title),
        page=page,
        csrf=let_in.csrf,
        attributes=attributes,
        nav=nav,
        logout=logout,
        body=body,
    )
    return HTMLResponse(text, status_code=status, headers=PAGE_HEADERS)


def _not_found(what: str, let_in: Access) -> HTMLResponse:
    body = (
        f'<h1>Not found</h1><p class="lead">{html.escape(what)}</p><p><a href="/">All runs</a></p>'
    )
    return _page("not found", "missing", body, let_in, status=404)


def _run_id(value: str) -> str | None:
    return value if _RUN_ID.fullmatch(value) and ".." not in value else None


# login -------------------------------------------------------------------------------------
def _login_page(target: str, error: str = "", status: int = 200) -> HTMLResponse:
    body = _template("login.html").substitute(
        next=html.escape(target, quote=True),
        error=f'<p class="message error" id="login-error">{html.escape(error)}</p>'
        if error
        else "",
    )
    return _page("log in", "login", body, Access(), status=status)


async def _form(request: Request) -> dict[str, str]:
    """A posted form's fields (``application/x-www-form-urlencoded``), first value each."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


@router.get("/login")
async def login_form(request: Request, next: Annotated[str, Query()] = "/") -> Response:
    """The login form (the service's key, sent in the form's body, never in a URL)."""
    target = _local(next)
    if not _service(request).settings.api_key or await access(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(target)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the key; on success a session cookie and a redirect to the page asked for."""
    service = _service(request)
    key = service.settings.api_key
    form = await _form(request)
    target = _local(form.get("next", "/"))
    if not key:
        return RedirectResponse(target, status_code=303)
    if not auth.same(form.get("key", ""), key):
        await asyncio.sleep(LOGIN_DELAY_S)
        return _login_page(target, "wrong key: give the service's API key", status=401)
    session_id = await auth.create_session(service.aredis, key)
    response = RedirectResponse(target, status_code=303)
    auth.set_cookie(response, session_id, secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (its CSRF token in the form's ``csrf`` field or the header)."""
    service = _service(request)
    key = service.settings.api_key
    response = RedirectResponse("/login" if key else "/", status_code=303)
    if not key:
        return response
    session_id = await auth.session_of(request, service.aredis, key)
    if session_id is not None:
        auth.check_csrf(request, key, session_id, (await _form(request)).get("csrf"))
        await auth.end_session(service.aredis, key, session_id)
    auth.clear_cookie(response, secure=request.url.scheme == "https")
    return response


# pages -------------------------------------------------------------------------------------
async def _stream_end(service: Service) -> str:
    """The id of the service stream's last event (``0`` when empty): the page's events start
    after it, so that nothing between the page and its stream is missed."""
    last = await service.aredis.xrevrange(STREAM, count=1)
    if not last:
        return "0"
    entry_id = last[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


@router.get("/")
async def runs_page(request: Request) -> Response:
    """The runs, newest first, updated live; tick finished ones to compare them."""
    let_in = await access(request)
    if let_in is None:
        return _to_login(request)
    service = _service(request)
    since = await _stream_end(service)
    records = await asyncio.to_thread(lambda: list(service.store.all()))
    workers = len(await asyncio.to_thread(service.store.workers))
    body = _template("runs.html").substitute(
        rows=views.run_rows(reversed(records), now()),
        empty="" if records else " hidden",
    )
    data = {"since": since, "workers": str(workers), "event-types": " ".join(EVENT_TYPES)}
    return _page("runs", "runs", body, let_in, data=data)


@router.get("/ui/runs/{run_id}")
async def run_page(run_id: str, request: Request) -> Response:
    """A run: its status and actions, learning curve, and log, all live."""
    let_in = await access(request)
    if let_in is None:
        return _to_login(request)
    service = _service(request)
    if _run_id(run_id) is None:
        return _not_found(f"no run {run_id!r}", let_in)
    try:
        record = await get_async(service.aredis, run_id)
    except UnknownRun:
        return _not_found(f"no run {run_id!r}", let_in)
    panel = views.run_panel(record, service.output_dir / "runs" / run_id, now())
    body = _template("run.html").substitute(panel=panel)
    data = {
        "run-id": run_id,
        "max-epochs": str(record.max_epochs or ""),
        "event-types": " ".join(EVENT_TYPES),
    }
    return _page(run_id, "run", body, let_in, data=data)


def _options(values: list[str], selected: str, labels: dict[str, str] | None = None) -> str:
    return "".join(
        f'<option value="{html.escape(v, quote=True)}"{" selected" if v == selected else ""}>'
        f"{html.escape((labels or {}).get(v, v))}</option>"
        for v in values
    )


def config_names(group: str) -> list[str]:
    """The configs of a Hydra group in the service's own config folder (``conf/<group>/``,
    shipped beside the command line), without the schema ones (``_name``)."""
    spec = importlib.util.find_spec("scripts")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "conf" / group
        if folder.is_dir():
            return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))
    return []


@router.get("/ui/submit")
async def submit_page(request: Request) -> Response:
    """The submit form: model, data, size, minutes, epochs, seeds (several: a sweep) and any
    other override, with the command line it amounts to."""
    let_in = await access(request)
    if let_in is None:
        return _to_login(request)
    from stories.config import PRESETS as DATA_PRESETS
    from stories.config import SIZES
    from trainers.config.presets import PRESETS
    from trainers.config.trainer import TrainerConfig

    presets = list(PRESETS)
    configs = [name for name in config_names("model") if name not in PRESETS]
    models = f'<optgroup label="presets">{_options(presets, "transformer")}</optgroup>'
    if configs:
        models += f'<optgroup label="configs (conf/model)">{_options(configs, "")}</optgroup>'
    sizes = {name: f"{name} · {split['train']:,} training stories" for name, split in SIZES.items()}
    body = _template("submit.html").substitute(
        models=models,
        datasets=_options(list(DATA_PRESETS), "all_4dir"),
        sizes=_options(list(SIZES), "default", sizes),
        max_epochs=TrainerConfig().max_epochs,
    )
    return _page("submit", "submit", body, let_in)


# pieces the script fetches -----------------------------------------------------------------
@router.get("/ui/rows/{run_id}")
async def run_row(run_id: str, request: Request) -> HTMLResponse:
    """A run's row of the runs table."""
    await _let_in(request)
    if _run_id(run_id) is None:
        raise HTTPException(404, f"no run {run_id!r}")
    record = await get_async(_service(request).aredis, run_id)
    return HTMLResponse(views.run_row(record, now()), headers={"Cache-Control": "no-store"})


@router.get("/ui/runs/{run_id}/panel")
async def run_panel(run_id: str, request: Request) -> HTMLResponse:
    """The top of a run's page: status, actions and facts."""
    await _let_in(request)
    if _run_id(run_id) is None:
        raise HTTPException(404, f"no run {run_id!r}")
    service = _service(request)
    record = await get_async(service.aredis, run_id)
    panel = views.run_panel(record, service.output_dir / "runs" / run_id, now())
    return HTMLResponse(panel, headers={"Cache-Control": "no-store"})


@router.get("/ui/models")
async def user_models(
    request: Request, searchpath: Annotated[str, Query(max_length=1000)]
) -> JSONResponse:
    """The model configs (``model/<name>.yaml``) of a user's config folder: what
    ``hydra.searchpath=[file://<folder>]`` lets a run's ``model=`` name."""
    await _let_in(request)
    folder = Path(searchpath.removeprefix("file://"))
    if not folder.is_absolute():
        raise HTTPException(422, "searchpath: an absolute folder (as hydra.searchpath takes)")
    models = folder / "model"
    names = sorted(p.stem for p in models.glob("*.yaml")) if models.is_dir() else []
    return JSONResponse({"searchpath": f"file://{folder}", "models": names})


@router.get("/ui/static/{name}")
async def static(name: str) -> FileResponse:
    """The page's script, style sheet and icon (no data in them: served to anyone)."""
    if name not in STATIC_FILES:
        raise HTTPException(404, f"no file {name!r}")
    return FileResponse(
        STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
    )


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    return RedirectResponse("/ui/static/favicon.svg", status_code=301)


@router.get("/ui/out/{path:path}")
async def output_file(path: str, request: Request) -> Response:
    """A comparison page the API wrote, by its path in the output root
    (``CompareOut.page``, a sweep's ``comparison``), with the plots and CSVs beside it: only
    files under ``service/comparisons/`` and ``service/sweeps/`` (404 for anything else). The
    pages' links to the runs' reports (``runs/<id>/report.html``) lead to ``/runs/<id>/report``.
    """
    let_in = await access(request)
    if let_in is None:
        return _to_login(request)
    parts = PurePosixPath(path).parts
    if len(parts) == 3 and parts[0] == "runs" and parts[2] == "report.html" and _run_id(parts[1]):
        return RedirectResponse(f"/runs/{parts[1]}/report", status_code=303)
    output_dir = _service(request).output_dir
    for folder in PAGE_FOLDERS:
        prefix = f"{folder}/"
        if path.startswith(prefix) and path.count("/") >= folder.count("/") + 2:
            target = path_inside(output_dir / folder, path.removeprefix(prefix))
            if target is not None and target.is_file():
                return FileResponse(target, headers={"X-Content-Type-Options": "nosniff"})
    raise HTTPException(404, f"no comparison file {path!r}")
