"""The service's settings (``service.*`` and ``paths.output_dir``), validated before anything
starts: every error names its key and the fix.

Example:
    >>> settings = ServiceSettings.from_mapping({"port": 9000}, output_dir="out")
    >>> settings.port, settings.url, settings.state_dir.name
    (9000, 'http://127.0.0.1:9000', 'service')
    >>> ServiceSettings.from_mapping({"host": "0.0.0.0"}, output_dir="out")
    Traceback (most recent call last):
    ...
    services.settings.ServiceSettingsError: service.api_key: required when the service binds \
beyond loopback (service.host=0.0.0.0); set service.api_key=... or STORYQA_API_KEY
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

#: The environment variable that holds the API key (so that it is not typed on a command line).
API_KEY_ENV = "STORYQA_API_KEY"
#: The environment variable that holds ``service.notify`` as JSON: how ``start`` hands the
#: targets (their URLs and secrets) to its notifier, never on a command line.
NOTIFY_ENV = "STORYQA_SERVICE_NOTIFY"
#: What a ``service.notify`` target can be.
NOTIFY_KINDS: tuple[str, ...] = ("discord", "slack", "webhook")
#: The keys of a ``service.notify`` target.
NOTIFY_KEYS: tuple[str, ...] = ("kind", "url", "secret", "events", "name")
#: The events a target gets when it lists none (``run.epoch.v1`` only when listed).
DEFAULT_NOTIFY_EVENTS: tuple[str, ...] = (
    "run.started.v1",
    "run.finished.v1",
    "run.failed.v1",
    "run.canceled.v1",
    "sweep.finished.v1",
)
#: A value of ``url`` or ``secret`` that reads an environment variable: ``env:NAME``.
ENV_PREFIX = "env:"
#: The service's folder inside the output root: Redis' data, pid and socket, the supervisor's
#: lock, sweeps' comparisons.
STATE_DIRNAME = "service"


class ServiceSettingsError(ValueError):
    """A ``service.*`` setting that cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class NotifyTarget:
    """One receiver of the service's notifications (``service.notify[<index>]``).

    Its ``url`` and ``secret`` are never shown: not in ``repr``, a log or an error.

    Attributes:
        kind: ``discord``, ``slack`` or ``webhook``.
        url: The receiver's http(s) URL (an ``env:NAME`` value already read).
        secret: A webhook's shared secret: its messages are signed (HMAC-SHA256).
        events: The event types it gets.
        name: A label for logs (none: the kind and index).
        index: Its place in ``service.notify``.

    Example:
        >>> target = NotifyTarget("webhook", "https://example.org/h?token=t0p", secret="s3")
        >>> target
        NotifyTarget(kind='webhook', events=('run.started.v1', 'run.finished.v1', \
'run.failed.v1', 'run.canceled.v1', 'sweep.finished.v1'), name='', index=0)
        >>> target.label, len(target.key)
        ('webhook service.notify[0]', 16)
    """

    kind: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    events: tuple[str, ...] = DEFAULT_NOTIFY_EVENTS
    name: str = ""
    index: int = 0

    @property
    def label(self) -> str:
        """How logs name it: its kind and name (or place), never its URL."""
        where = f"service.notify[{self.index}]"
        return f"{self.kind} {self.name!r} ({where})" if self.name else f"{self.kind} {where}"

    @property
    def key(self) -> str:
        """A stable id of the receiver (a digest of its kind and URL, which it does not
        reveal): what the notifier's records in Redis are kept under."""
        return hashlib.sha256(f"{self.kind}\n{self.url}".encode()).hexdigest()[:16]

    def to_mapping(self) -> dict[str, Any]:
        """As ``service.notify`` takes it (URL and secret included: for the environment of a
        child process only)."""
        out: dict[str, Any] = {"kind": self.kind, "url": self.url, "events": list(self.events)}
        if self.secret is not None:
            out["secret"] = self.secret
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of the service's processes (API, workers, embedded Redis).

    Attributes:
        host: Address the API binds to; loopback unless told otherwise.
        port: The API's port.
        api_key: Required on every endpoint but ``/healthz`` when set; required when ``host``
            is not loopback. Also read from ``STORYQA_API_KEY``. Never shown or logged.
        redis_url: An external Redis (>= 6.2) by URL; ``None`` starts an embedded one under
            ``<output_dir>/service/``.
        workers: Workers that ``start`` runs beside the API.
        output_dir: The output root: runs, datasets, registry, the service's own folder.
        heartbeat_s: Seconds between a running attempt's heartbeats.
        heartbeat_timeout_s: A running attempt with no heartbeat for this long is lost: its
            run is queued again as a resume from its last checkpoint.
        max_retries: How many times a run is resumed after losing its worker before it fails.
        cancel_grace_s: Seconds a cancelled run has to stop at the end of its current step
            before it is killed.
        job_timeout_margin_s: Seconds a job may take beyond ``trainer.max_minutes`` (data
            generation, evaluation) before RQ stops it; a run without ``max_minutes`` has no
            time limit.
        max_body_bytes: Largest request body accepted (413 above it).
        predict_inline_rows: Largest ``/predict`` request answered at once; larger ones run as
            a job.
        worker_nice: How much lower the workers' CPU priority is than the API's (``nice``,
            0-19): while training fills every core, the API still answers at once. Training
            loses nothing on an otherwise idle machine; 0 leaves the priority as it is.
        notify: Where the notifier sends the service's events (Discord, Slack, signed
            webhooks); none: no notifier. Also read from ``STORYQA_SERVICE_NOTIFY`` (JSON).
        notify_epoch_every_s: A run's ``run.epoch.v1`` events (for targets that list them)
            go out at most once per this many seconds, batched; 0 sends each at once.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (
        "host",
        "port",
        "api_key",
        "redis_url",
        "workers",
        "heartbeat_s",
        "heartbeat_timeout_s",
        "max_retries",
        "cancel_grace_s",
        "job_timeout_margin_s",
        "max_body_bytes",
        "predict_inline_rows",
        "worker_nice",
        "notify",
        "notify_epoch_every_s",
    )

    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str | None = field(default=None, repr=False)
    redis_url: str | None = None
    workers: int = 1
    output_dir: Path = Path("models_out")
    heartbeat_s: float = 2.0
    heartbeat_timeout_s: float = 30.0
    max_retries: int = 3
    cancel_grace_s: float = 60.0
    job_timeout_margin_s: int = 1800
    max_body_bytes: int = 10_000_000
    predict_inline_rows: int = 64
    worker_nice: int = 10
    notify: tuple[NotifyTarget, ...] = ()
    notify_epoch_every_s: float = 60.0

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], output_dir: str | Path = "models_out"
    ) -> ServiceSettings:
        """Validate ``service.*`` values (as the command line gives them).

        Raises:
            ServiceSettingsError: An unknown key or a bad value, naming it.
        """
        unknown = sorted(set(values) - set(cls.FIELDS))
        if unknown:
            raise ServiceSettingsError(
                f"service.{unknown[0]}: not a service setting; known: {', '.join(cls.FIELDS)}"
            )
        given = {k: v for k, v in values.items() if v is not None}
        if given.get("api_key") is None and os.environ.get(API_KEY_ENV):
            given["api_key"] = os.environ[API_KEY_ENV]
        if not given.get("notify") and os.environ.get(NOTIFY_ENV):
            given["notify"] = _notify_from_environment()
        settings = cls(output_dir=Path(output_dir).expanduser(), **_typed(given))
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse what cannot work.

        Raises:
            ServiceSettingsError: Naming the key.
        """
        if not 0 < self.port < 65536:
            raise ServiceSettingsError(f"service.port: {self.port} is not a port (1-65535)")
        for name in ("heartbeat_s", "heartbeat_timeout_s", "cancel_grace_s"):
            if getattr(self, name) <= 0:
                raise ServiceSettingsError(f"service.{name}: must be > 0")
        if self.notify_epoch_every_s < 0:
            raise ServiceSettingsError(
                "service.notify_epoch_every_s: must be >= 0 (0: every epoch at once)"
            )
        if self.heartbeat_timeout_s < 3 * self.heartbeat_s:
            raise ServiceSettingsError(
                f"service.heartbeat_timeout_s: {self.heartbeat_timeout_s} s is under three "
                f"heartbeats (service.heartbeat_s={self.heartbeat_s}); a busy worker would be "
                "taken for lost"
            )
        for name in ("workers", "max_retries", "job_timeout_margin_s"):
            if getattr(self, name) < 0:
                raise ServiceSettingsError(f"service.{name}: must be >= 0")
        for name in ("max_body_bytes", "predict_inline_rows"):
            if getattr(self, name) < 1:
                raise ServiceSettingsError(f"service.{name}: must be >= 1")
        if not 0 <= self.worker_nice <= 19:
            raise ServiceSettingsError(
                f"service.worker_nice: {self.worker_nice} is not a nice value (0-19)"
            )
        if self.api_key is not None and not self.api_key.strip():
            raise ServiceSettingsError(f"service.api_key: empty; give a key or unset {API_KEY_ENV}")
        if not is_loopback(self.host) and not self.api_key:
            raise ServiceSettingsError(
                "service.api_key: required when the service binds beyond loopback "
                f"(service.host={self.host}); set service.api_key=... or {API_KEY_ENV}"
            )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ServiceSettingsError(
                f"service.redis_url: {self.redis_url!r} is not a Redis URL; give "
                "redis://host:6379/0 (or rediss://, unix://)"
            )

    @property
    def state_dir(self) -> Path:
        """``<output_dir>/service``: the embedded Redis' files, the lock, sweeps."""
        return self.output_dir / STATE_DIRNAME

    @property
    def url(self) -> str:
        """The API's base URL (loopback when bound to every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def replace(self, **values: Any) -> ServiceSettings:
        """A copy with ``values`` changed (checked again)."""
        settings = dataclasses.replace(self, **values)
        settings.check()
        return settings


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_TYPES: dict[str, type] = {
    "host": str,
    "port": int,
    "api_key": str,
    "redis_url": str,
    "workers": int,
    "heartbeat_s": float,
    "heartbeat_timeout_s": float,
    "max_retries": int,
    "cancel_grace_s": float,
    "job_timeout_margin_s": int,
    "max_body_bytes": int,
    "predict_inline_rows": int,
    "worker_nice": int,
    "notify": list,
    "notify_epoch_every_s": float,
}


def _typed(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value as its field's type; a value that is not one names its key."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = _TYPES[key]
        if kind is list:
            out[key] = notify_targets(value)
            continue
        what = {int: "an integer", float: "a number", str: "a string"}[kind]
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ServiceSettingsError(f"service.{key}: {value!r} is not {what}")
        try:
            out[key] = kind(value)
        except (TypeError, ValueError):
            raise ServiceSettingsError(f"service.{key}: {value!r} is not {what}") from None
    return out


def notify_targets(values: Any) -> tuple[NotifyTarget, ...]:
    """``service.notify`` checked: a list of ``{kind, url, secret, events, name}`` mappings,
    each ``env:NAME`` value read from the environment.

    Raises:
        ServiceSettingsError: Naming ``service.notify[<i>].<key>`` and the fix (never a URL
            or a secret).

    Example:
        >>> notify_targets([{"kind": "slack", "url": "https://hooks.example/T0/B0/x"}])[0].kind
        'slack'
        >>> notify_targets([{"kind": "teams", "url": "https://example.org"}])
        Traceback (most recent call last):
        ...
        services.settings.ServiceSettingsError: service.notify[0].kind: 'teams' is not a \
notification kind; give discord, slack or webhook
    """
    if isinstance(values, Mapping):
        values = [values]
    if not isinstance(values, list | tuple):
        raise ServiceSettingsError(
            "service.notify: not a list; give service.notify=[{kind: webhook, url: https://...}]"
        )
    targets = tuple(_notify_target(index, value) for index, value in enumerate(values))
    seen: dict[str, int] = {}
    for target in targets:
        if target.key in seen:
            raise ServiceSettingsError(
                f"service.notify[{target.index}].url: the same {target.kind} receiver as "
                f"service.notify[{seen[target.key]}]; give each receiver once"
            )
        seen[target.key] = target.index
    return targets


def _notify_target(index: int, value: Any) -> NotifyTarget:
    """One target of ``service.notify``, checked."""
    where = f"service.notify[{index}]"
    if not isinstance(value, Mapping):
        raise ServiceSettingsError(
            f"{where}: not a mapping; give {{kind: webhook, url: https://...}}"
        )
    unknown = sorted(str(k) for k in set(value) - set(NOTIFY_KEYS))
    if unknown:
        raise ServiceSettingsError(
            f"{where}.{unknown[0]}: not a notification setting; known: {', '.join(NOTIFY_KEYS)}"
        )
    kind = value.get("kind")
    if kind not in NOTIFY_KINDS:
        raise ServiceSettingsError(
            f"{where}.kind: {kind!r} is not a notification kind; give discord, slack or webhook"
            if kind is not None
            else f"{where}.kind: required; give discord, slack or webhook"
        )
    url = _secret_value(where, "url", value.get("url"))
    if url is None:
        raise ServiceSettingsError(
            f"{where}.url: required; give the receiver's https:// URL (or env:NAME to read it "
            "from the environment variable NAME)"
        )
    if not _is_http_url(url):
        raise ServiceSettingsError(
            f"{where}.url: not an http(s) URL; give https://... (the receiver's webhook URL)"
        )
    secret = _secret_value(where, "secret", value.get("secret"))
    if secret is not None and kind != "webhook":
        raise ServiceSettingsError(
            f"{where}.secret: only a webhook target signs its messages; remove it from this "
            f"{kind} target"
        )
    name = value.get("name")
    if name is not None and not isinstance(name, str | int):
        raise ServiceSettingsError(f"{where}.name: not a string; give a short label")
    return NotifyTarget(
        kind=kind,
        url=url,
        secret=secret,
        events=_notify_events(where, value.get("events")),
        name="" if name is None else str(name),
        index=index,
    )


def _is_http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host (and a valid port, if any).

    Example:
        >>> [_is_http_url(u) for u in ("https://h/x", "http://h:99999/", "ftp://h", "http://[::1")]
        [True, False, False, False]
    """
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


def _secret_value(where: str, key: str, value: Any) -> str | None:
    """A ``url`` or ``secret``: the value, or the environment variable an ``env:NAME`` value
    names; never shown in an error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ServiceSettingsError(f"{where}.{key}: not a string; give it in quotes")
    if value.startswith(ENV_PREFIX):
        variable = value.removeprefix(ENV_PREFIX)
        if not variable or variable not in os.environ:
            raise ServiceSettingsError(
                f"{where}.{key}: the environment variable {variable!r} is not set; set it, or "
                f"give the value itself"
            )
        value = os.environ[variable]
    if not value.strip():
        raise ServiceSettingsError(f"{where}.{key}: empty; give a value or leave the key out")
    return value


def _notify_events(where: str, value: Any) -> tuple[str, ...]:
    """A target's event types (the defaults when it lists none)."""
    from services.events.schemas import EVENT_TYPES

    if value is None:
        return DEFAULT_NOTIFY_EVENTS
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ServiceSettingsError(
            f"{where}.events: give a list of event types, e.g. [run.finished.v1, run.failed.v1],"
            " or leave it out for the defaults"
        )
    for event in value:
        if event not in EVENT_TYPES:
            raise ServiceSettingsError(
                f"{where}.events: {event!r} is not an event type; known: {', '.join(EVENT_TYPES)}"
            )
    return tuple(dict.fromkeys(str(event) for event in value))


def _notify_from_environment() -> list[Any]:
    """``service.notify`` from ``STORYQA_SERVICE_NOTIFY`` (JSON; never shown in an error)."""
    try:
        values = json.loads(os.environ[NOTIFY_ENV])
    except ValueError:
        raise ServiceSettingsError(
            f"service.notify: {NOTIFY_ENV} is not JSON; give a list of targets, e.g. "
            '[{"kind": "webhook", "url": "https://..."}], or unset it'
        ) from None
    if not isinstance(values, list):
        raise ServiceSettingsError(f"service.notify: {NOTIFY_ENV} is not a JSON list of targets")
    return values


def notify_environment(targets: tuple[NotifyTarget, ...]) -> str:
    """The value of ``STORYQA_SERVICE_NOTIFY`` that hands ``targets`` to a child process.

    Example:
        >>> target = NotifyTarget("slack", "https://hooks.example/x", events=("run.failed.v1",))
        >>> notify_environment((target,))
        '[{"kind": "slack", "url": "https://hooks.example/x", "events": ["run.failed.v1"]}]'
    """
    return json.dumps([target.to_mapping() for target in targets])
