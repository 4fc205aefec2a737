"""The service's API key, as a user sets it (``STORYQA_API_KEY``): required on every endpoint
but ``/healthz`` (OpenAPI's page included), accepted as ``X-API-Key`` or a bearer token, and
never written anywhere — not in a response, a log, a file of the output folder or a child
process' command line. And one service per output folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.client import ServiceClient, ServiceError
from tests.e2e.service_helpers import Service, env, running_service, service_command

pytestmark = pytest.mark.slow

KEY = "sq-test-7c1f0e9a5b2d4e6f"
PROTECTED = ["/runs", "/workers", "/readyz", "/docs", "/openapi.json", "/jobs/x", "/runs/x/logs"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("keyed")
    with running_service(folder, "service.workers=0", key=KEY, ready=False) as service:
        yield service


@pytest.mark.parametrize("path", PROTECTED)
def test_every_endpoint_but_healthz_needs_the_key(keyed: Service, path: str) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = httpx.get(f"{keyed.url}{path}", headers=headers, timeout=30)
        assert response.status_code == 401, (path, headers, response.text)
        assert response.json()["code"] == "unauthorized" and KEY not in response.text
    assert httpx.get(f"{keyed.url}/healthz", timeout=30).status_code == 200


def test_the_key_opens_the_api_as_a_header_or_a_bearer_token(keyed: Service) -> None:
    assert keyed.http.get("/runs").status_code == 200  # X-API-Key
    bearer = httpx.get(f"{keyed.url}/runs", headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200
    assert keyed.http.get("/docs").status_code == 200


def test_the_client_takes_the_key_from_the_environment(
    keyed: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYQA_API_KEY", KEY)
    with ServiceClient(keyed.url) as client:
        assert client.runs() == []
    with ServiceClient(keyed.url, api_key="wrong") as client, pytest.raises(ServiceError) as no:
        client.runs()
    assert no.value.status == 401 and no.value.code == "unauthorized"
    listed = subprocess.run(
        [sys.executable, "-m", "scripts.service", "list", "--url", keyed.url],
        capture_output=True, text=True, timeout=120, env={**env(), "STORYQA_API_KEY": KEY},
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "scripts.service", "list", "--url", keyed.url],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in env().items() if k != "STORYQA_API_KEY"},
    )  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.startswith("error: missing or wrong API key")


def test_the_key_is_never_written(keyed: Service) -> None:
    assert KEY not in keyed.log.read_text(errors="replace")
    for path in keyed.out.rglob("*"):
        if path.is_file() and not path.is_socket():
            assert KEY.encode() not in path.read_bytes(), path
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            assert KEY.encode() not in cmdline, f"the key is on the command line of {proc.name}"


def test_a_second_service_on_the_same_output_folder_is_refused(keyed: Service) -> None:
    second = subprocess.run(
        service_command("start", keyed.out, "service.port=9"),
        capture_output=True, text=True, timeout=120, env={**env(), "STORYQA_API_KEY": KEY},
    )  # fmt: skip
    assert second.returncode == 2
    assert second.stderr.startswith(f"error: another storyqa service runs on {keyed.out}")
    assert keyed.http.get("/runs").status_code == 200  # the first is untouched


def test_readiness_says_why_it_is_not_ready(keyed: Service) -> None:
    answer = keyed.http.get("/readyz")
    assert answer.status_code == 503 and answer.json()["code"] == "not_ready"
    assert "no worker is alive: start one (storyqa-service worker)" in answer.json()["message"]
