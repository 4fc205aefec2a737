"""The training service as a user drives it, against the real parts: ``storyqa-service
start`` (the embedded Redis server, the API under uvicorn on a free loopback port, two workers
in their own processes), queried over HTTP and through the command-line client. One service
serves the whole module; runs train the tiny LSTM on the tiny data."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service_bad_requests import BAD_REQUESTS, BadRequest
from tests.e2e.service_helpers import (
    RUN,
    SETTINGS,
    Service,
    assert_same_run,
    env,
    running_service,
)

pytestmark = pytest.mark.slow

LONG = [*RUN, "trainer.max_epochs=60"]
#: A short cancel grace period, so that a run that ignores the stop is killed soon.
GRACE_SETTINGS = [*SETTINGS[:2], "service.cancel_grace_s=6"]


#: A user's model configs (``hydra.searchpath``), their ``_target_`` importable by the
#: workers: one of the contract, one with two outputs per example (refused when training
#: starts: a user error), one that raises once it trains (a crash), one that ignores a cancel.
USER_MODELS = ("MeanEmbedding", "TwoLogits", "Crashes", "Stubborn")


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("user_project")
    (root / "my_conf" / "model").mkdir(parents=True)
    for name in USER_MODELS:
        (root / "my_conf" / "model" / f"{name.lower()}.yaml").write_text(
            f"_target_: tests.e2e.user_models.{name}\nframework: lightning\nwidth: 8\n",
            encoding="utf-8",
        )
    return root


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, user_project: Path) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("service")
    with running_service(folder, "service.workers=2", settings=GRACE_SETTINGS) as started:
        yield started


def client(service: Service, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m scripts.service <args> --url <service>``."""
    command, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "scripts.service", command, "--url", service.url, *rest],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
    )


@pytest.fixture(scope="module")
def finished(service: Service) -> str:
    """A run submitted with ``submit --wait``, followed to its end."""
    done = client(service, "submit", *RUN, "trainer.max_epochs=3", "--wait")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_id = done.stdout.splitlines()[0].strip()
    assert "epoch 002 | train loss" in done.stdout  # the epoch lines while following
    assert f"{run_id}  finished" in done.stdout
    return run_id


def test_submit_wait_follows_the_run_to_its_end(service: Service, finished: str) -> None:
    status = service.status(finished)
    assert status["status"] == "finished" and status["attempt"] == 1
    assert status["epoch"] == status["max_epochs"] == 3
    run_dir = service.out / "runs" / finished
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {s: v["accuracy"] for s, v in manifest["evaluation"].items()} == status["evaluation"]
    assert status["best_val_accuracy"] == manifest["best"]["val_accuracy"]
    registry = json.loads((service.out / "registry.json").read_text())
    assert finished in {entry["run_id"] for entry in registry["models"]}
    listed = client(service, "list", "--status", "finished")
    assert listed.returncode == 0 and finished in listed.stdout


def test_a_run_folder_is_served(service: Service, finished: str) -> None:
    http = service.http
    metrics = http.get(f"/runs/{finished}/metrics").json()["series"]
    assert [step for step, _ in metrics["metrics/val/accuracy"]] == [0, 1, 2]
    logs = http.get(f"/runs/{finished}/logs", params={"tail": 5})
    assert logs.status_code == 200 and "ended: finished" in logs.text
    assert (
        int(logs.headers["x-log-offset"])
        == (service.out / "runs" / finished / "run.log").stat().st_size
    )
    report = http.get(f"/runs/{finished}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    vocab = http.get(f"/runs/{finished}/files/vocab.json")
    assert vocab.json() == json.loads((service.out / "runs" / finished / "vocab.json").read_text())
    archive = http.get(f"/runs/{finished}/archive")
    with tarfile.open(fileobj=BytesIO(archive.content), mode="r:gz") as tar:
        assert f"{finished}/manifest.json" in tar.getnames()
    assert http.get(f"/runs/{finished}/files/checkpoints").status_code == 404  # a folder


@pytest.mark.parametrize("bad", BAD_REQUESTS, ids=[bad.id for bad in BAD_REQUESTS])
def test_a_bad_request_gets_one_clear_error(
    service: Service, finished: str, bad: BadRequest
) -> None:
    """Every row of ``docs/bad-inputs.md``'s API section: its status, its code and message in
    the one error shape; a refused run is never queued and leaves no folder."""
    runs_before = service.http.get("/runs").json()["runs"]
    folders_before = _folders(service)
    path = bad.path.replace("{run}", finished)
    response = service.http.request(bad.method, path, json=bad.body)
    assert response.status_code == bad.status, response.text
    answer = response.json()
    assert set(answer) == {"code", "message", "request_id"}
    assert answer["code"] == bad.code, answer
    assert bad.message.replace("{run}", finished) in answer["message"], answer
    assert answer["request_id"] == response.headers["x-request-id"]
    assert "root:" not in response.text and '"models"' not in response.text  # no file leaked
    if bad.refused_config:
        assert service.http.get("/runs").json()["runs"] == runs_before
        assert _folders(service) == folders_before


def _folders(service: Service) -> set[Path]:
    runs = service.out / "runs"
    return set(runs.iterdir()) if runs.is_dir() else set()


def test_the_cli_prints_a_refused_config_as_the_cli_would(service: Service) -> None:
    refused = client(service, "submit", "model.nope=1")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: Could not override 'model.nope'")


def test_a_request_id_is_kept_or_made(service: Service) -> None:
    assert (
        service.http.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"]
        == "abc-1"
    )
    assert len(service.http.get("/healthz").headers["x-request-id"]) == 16


def test_workers_readiness_and_openapi(service: Service) -> None:
    workers = service.http.get("/workers").json()["workers"]
    assert len(workers) == 2 and all(w["heartbeat_age_s"] < 5 for w in workers)
    assert service.http.get("/readyz").json()["status"] == "ready"
    paths = service.http.get("/openapi.json").json()["paths"]
    for path in ("/runs", "/runs/{run_id}/cancel", "/runs/{run_id}/resume", "/sweeps", "/compare"):
        assert path in paths
    assert "swagger" in service.http.get("/docs").text.lower()


def test_cancel_and_resume_end_as_an_uninterrupted_run(service: Service) -> None:
    stopped, whole = service.submit(*LONG), service.submit(*LONG)
    service.wait(stopped, lambda s: s["status"] == "running")
    service.wait(whole, lambda s: s["status"] == "running")
    queued = service.submit(*LONG)  # both workers are busy
    canceled = service.http.post(f"/runs/{queued}/cancel").json()
    assert canceled["status"] == "canceled" and canceled["started_at"] is None
    service.wait(stopped, lambda s: s["epoch"] >= 2)
    asked = service.http.post(f"/runs/{stopped}/cancel").json()
    assert asked["status"] == "running" and asked["cancel_requested"]
    status = service.wait(stopped)
    assert status["status"] == "canceled" and not status["killed"], status
    manifest = json.loads((service.out / "runs" / stopped / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and 0 < manifest["epochs_completed"] < 60
    assert service.http.post(f"/runs/{stopped}/cancel").status_code == 409
    resumed = service.http.post(f"/runs/{stopped}/resume").json()
    assert resumed["status"] == "queued" and resumed["attempt"] == 2
    assert service.wait(stopped)["status"] == "finished"
    assert service.wait(whole)["status"] == "finished"
    assert_same_run(service.out / "runs" / stopped, service.out / "runs" / whole)
    assert not (service.out / "runs" / queued).exists()  # never started
    assert service.status(queued)["status"] == "canceled"
    for action in ("cancel", "resume"):
        conflict = service.http.post(f"/runs/{whole}/{action}")
        assert conflict.status_code == 409 and "finished" in conflict.json()["message"]


def test_a_sweep_runs_each_combination_and_is_compared(service: Service) -> None:
    response = service.http.post(
        "/sweeps", json={"overrides": [*RUN, "trainer.max_epochs=2", "seed=0,1"]}
    )
    assert response.status_code == 202, response.text
    sweep = response.json()
    run_ids = [run["run_id"] for run in sweep["runs"]]
    assert len(run_ids) == 2
    statuses = [service.wait(run_id) for run_id in run_ids]
    assert [s["overrides"][-1] for s in statuses] == ["seed=0", "seed=1"]
    deadline = time.monotonic() + 60
    while (found := service.http.get(f"/sweeps/{sweep['sweep_id']}").json())["comparison"] is None:
        assert time.monotonic() < deadline, found
        time.sleep(0.3)
    assert Path(found["comparison"]).is_file() and found["comparison"].endswith(".html")
    compared = service.http.post("/compare", json={"run_ids": run_ids}).json()
    assert [row["split"] for row in compared["headline"]][:1] == ["train"]
    assert {test["split"] for test in compared["paired"]} >= {"test"}
    assert (service.out / compared["page"]).is_file()
    printed = client(service, "compare", *run_ids)
    assert printed.returncode == 0
    assert compared["text"].strip() and compared["text"].strip() in printed.stdout


def _rows(service: Service, count: int) -> list[dict[str, Any]]:
    (test_file,) = service.out.glob("datasets/*/test.jsonl")
    lines = test_file.read_text(encoding="utf-8").splitlines()[:count]
    return [{k: json.loads(line)[k] for k in ("story", "question", "answer")} for line in lines]


def _job(service: Service, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while (job := service.http.get(f"/jobs/{job_id}").json())["status"] not in (
        "finished",
        "failed",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    return dict(job)


def test_evaluate_and_predict_with_a_finished_run(service: Service, finished: str) -> None:
    manifest = json.loads((service.out / "runs" / finished / "manifest.json").read_text())
    accepted = service.http.post(f"/runs/{finished}/evaluate", json={"splits": ["test"]})
    assert accepted.status_code == 202
    job = _job(service, accepted.json()["job_id"])
    assert job["status"] == "finished", job
    assert job["result"]["splits"]["test"]["accuracy"] == manifest["evaluation"]["test"]["accuracy"]
    rows = _rows(service, 3)
    uploaded = service.http.post(f"/runs/{finished}/evaluate", json={"rows": rows}).json()
    scored = _job(service, uploaded["job_id"])
    assert scored["status"] == "finished", scored
    ((split, result),) = scored["result"]["splits"].items()
    assert split == "uploaded" and result["examples"] == 3
    answered = service.http.post(f"/runs/{finished}/predict", json={"rows": rows}).json()
    probabilities = [p["probability"] for p in answered["predictions"]]
    assert len(probabilities) == 3 and all(0 <= p <= 1 for p in probabilities)
    big = service.http.post(f"/runs/{finished}/predict", json={"rows": _rows(service, 70)})
    assert big.status_code == 202
    result = _job(service, big.json()["job_id"])["result"]
    lines = (service.out / "runs" / finished / result["file"]).read_text().splitlines()
    assert len(lines) == 70
    assert [json.loads(line)["probability"] for line in lines[:3]] == pytest.approx(probabilities)
    unfinished = service.http.post(f"/runs/{finished}x/evaluate", json={})
    assert unfinished.status_code == 404


def test_user_models_train_and_their_failures_are_classed_and_never_retried(
    service: Service, user_project: Path
) -> None:
    searchpath = f"hydra.searchpath=[file://{user_project / 'my_conf'}]"
    common = [searchpath, "data.size=tiny", "tracker.sinks=[jsonl]", "trainer.max_epochs=2"]
    good = service.submit("model=meanembedding", *common)
    shape = service.submit("model=twologits", *common)
    crash = service.submit("model=crashes", *common)
    finished = service.wait(good)
    assert finished["status"] == "finished" and finished["model"] == "meanembedding", finished
    refused = service.wait(shape)
    assert (refused["status"], refused["error_class"], refused["attempt"]) == ("failed", "user", 1)
    assert (
        refused["message"].startswith("error: ") and "one logit per example" in refused["message"]
    )
    crashed = service.wait(crash)
    assert (crashed["status"], crashed["error_class"], crashed["attempt"]) == ("failed", "crash", 1)
    assert crashed["message"].startswith("RuntimeError: boom in the forward pass")
    log = (service.out / "runs" / crash / "run.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "boom in the forward pass" in log
    time.sleep(2)  # nothing re-queues a failed run
    assert service.status(crash)["attempt"] == 1 and service.status(shape)["status"] == "failed"


def _run_events(
    service: Service, run_id: str, last_event_id: str | None = None
) -> list[tuple[str, Any]]:
    """The run's events from its first (or after ``last_event_id``) up to its end event."""
    from services.client import ServiceClient
    from services.events.schemas import RUN_ENDED

    found = []
    with ServiceClient(service.url) as reader:
        for event_id, event in reader.events(run_id, last_event_id=last_event_id):
            found.append((event_id, event))
            if event.type in RUN_ENDED:
                return found
    raise AssertionError("the stream ended before the run's end event")


def test_a_runs_events_tell_its_life_in_order_with_the_trackers_names(
    service: Service, finished: str
) -> None:
    events = [event for _, event in _run_events(service, finished)]
    types = [event.type for event in events]
    assert types[:2] == ["run.queued.v1", "run.started.v1"] and types[-1] == "run.finished.v1"
    epochs = [event for event in events if event.type == "run.epoch.v1"]
    assert [event.epoch for event in epochs] == [0, 1, 2]
    metrics = json.loads(
        (service.out / "runs" / finished / "metrics.jsonl").read_text().split("\n")[0]
    )
    assert metrics  # the tracker's file exists; the epoch events use its names and values
    tracked = _series(service.out / "runs" / finished)
    for event in epochs:
        assert {"metrics/train/loss", "metrics/val/accuracy", "metrics/epoch/seconds"} <= set(
            event.metrics
        )
        for name, value in event.metrics.items():
            assert tracked[name][event.epoch] == value
        assert event.best_val_accuracy == max(
            tracked["metrics/val/accuracy"][e] for e in range(event.epoch + 1)
        )
    assert types.index("run.checkpoint.v1") > types.index("run.epoch.v1")
    evaluated = {
        event.split: event.accuracy for event in events if event.type == "run.evaluated.v1"
    }
    assert evaluated == service.status(finished)["evaluation"]
    headline = events[-1].headline
    assert set(headline) == set(evaluated)
    assert all(h.low <= h.accuracy <= h.high and h.examples for h in headline.values())


def _series(run_dir: Path) -> dict[str, dict[int, float]]:
    series: dict[str, dict[int, float]] = {}
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "step" in record:
            series.setdefault(record["name"], {})[record["step"]] = record["value"]
    return series


def test_a_reconnecting_client_gets_exactly_what_it_missed(service: Service, finished: str) -> None:
    whole = _run_events(service, finished)
    ids = [event_id for event_id, _ in whole]
    assert len(set(ids)) == len(ids) and ids == sorted(
        ids, key=lambda i: tuple(map(int, i.split("-")))
    )
    cut = len(whole) // 2
    rest = _run_events(service, finished, last_event_id=ids[cut - 1])
    assert [event_id for event_id, _ in rest] == ids[cut:]
    assert [event for _, event in rest] == [event for _, event in whole[cut:]]


def test_the_service_stream_goes_live_and_replays(service: Service, finished: str) -> None:
    import httpx

    with httpx.stream("GET", f"{service.url}/events", params={"since": "0"}, timeout=30) as stream:
        seen = []
        for line in stream.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                seen.append((event["type"], event.get("run_id")))
                if (event["type"], event.get("run_id")) == ("run.finished.v1", finished):
                    break
    assert ("run.queued.v1", finished) in seen and ("run.epoch.v1", finished) in seen


def test_the_log_stream_is_the_log_and_resumes_at_an_offset(
    service: Service, finished: str
) -> None:
    from services.client import ServiceClient

    log = (service.out / "runs" / finished / "run.log").read_text(encoding="utf-8")
    with ServiceClient(service.url) as reader:
        assert "".join(reader.follow_log(finished)) == log
        half = len(log.encode()) // 2
        assert "".join(reader.follow_log(finished, offset=half)).encode() == log.encode()[half:]
    stream = service.http.get(f"/runs/{finished}/logs/stream", headers={"Last-Event-ID": "x"})
    assert stream.status_code == 422 and stream.json()["code"] == "invalid_request"


def test_a_run_that_ignores_a_cancel_is_killed_after_the_grace_period(
    service: Service, user_project: Path
) -> None:
    searchpath = f"hydra.searchpath=[file://{user_project / 'my_conf'}]"
    run_id = service.submit(searchpath, "model=stubborn", "data.size=tiny", "tracker.sinks=[jsonl]")
    status = service.wait(run_id, lambda s: s["status"] == "running")
    manifest = service.out / "runs" / run_id / "manifest.json"
    deadline = time.monotonic() + 120
    while not manifest.is_file():  # training has begun (its model checked)
        assert time.monotonic() < deadline, service.status(run_id)
        time.sleep(0.2)
    time.sleep(4)  # into its first training batch, where it ignores SIGTERM
    asked = service.http.post(f"/runs/{run_id}/cancel").json()
    assert asked["cancel_requested"]
    final = service.wait(run_id, timeout=60)
    assert (final["status"], final["killed"]) == ("canceled", True), final
    assert "killed after it did not stop within 6 s" in final["message"]
    job_pid = status["worker"]["job_pid"]
    deadline = time.monotonic() + 10
    while Path(f"/proc/{job_pid}").exists() and "Z" not in _state(job_pid):
        assert time.monotonic() < deadline, "the killed attempt's process is still running"
        time.sleep(0.2)
    events = [e for _, e in _run_events(service, run_id)]
    assert events[-1].type == "run.canceled.v1" and events[-1].killed
    # the worker goes on taking runs
    assert service.wait(service.submit(*RUN, "trainer.max_epochs=1"))["status"] == "finished"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_a_quiet_stream_stays_open(service: Service) -> None:
    """A client waiting longer than Redis' socket timeout (5 s) for an event still gets it."""
    import threading

    from services.client import ServiceClient
    from services.events.schemas import ServiceHeartbeat
    from services.events.stream import publish
    from services.store import connect

    got: list[Any] = []

    def listen() -> None:
        with ServiceClient(service.url) as reader:
            for _, event in reader.events():
                if event.type == "service.heartbeat.v1" and event.workers == -7:
                    got.append(event)
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(8)
    publish(
        connect(f"unix://{service.out.resolve() / 'service' / 'redis.sock'}"),
        ServiceHeartbeat(workers=-7, queued=0, running=0),
    )
    thread.join(timeout=15)
    assert got, "the event after 8 quiet seconds never arrived"
