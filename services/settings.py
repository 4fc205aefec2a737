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
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

#: The environment variable that holds the API key (so that it is not typed on a command line).
API_KEY_ENV = "STORYQA_API_KEY"
#: The service's folder inside the output root: Redis' data, pid and socket, the supervisor's
#: lock, sweeps' comparisons.
STATE_DIRNAME = "service"


class ServiceSettingsError(ValueError):
    """A ``service.*`` setting that cannot be used; the message names the key and the fix."""


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
}


def _typed(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value as its field's type; a value that is not one names its key."""
    out = {}
    for key, value in values.items():
        kind = _TYPES[key]
        what = {int: "an integer", float: "a number", str: "a string"}[kind]
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ServiceSettingsError(f"service.{key}: {value!r} is not {what}")
        try:
            out[key] = kind(value)
        except (TypeError, ValueError):
            raise ServiceSettingsError(f"service.{key}: {value!r} is not {what}") from None
    return out
