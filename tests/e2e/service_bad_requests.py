"""The bad requests the training service's API is tested with (``tests/e2e/test_service.py``)
and that ``docs/bad-inputs.md`` lists (``tests/e2e/test_bad_inputs.py`` renders them): one
table, so the doc cannot drift from the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

#: A body over ``service.max_body_bytes`` (10 MB by default): 2,000,000 overrides.
TOO_LARGE: Final = {"overrides": ["model=lstm"] * 2_000_000}


@dataclass(frozen=True)
class BadRequest:
    """One bad request.

    Attributes:
        id: Test id.
        input: What is wrong, for the doc.
        method: HTTP method.
        path: The path (``{run}``: a finished run).
        body: The JSON body, if any.
        status: The status answered.
        code: The error's ``code``.
        message: What the error's ``message`` contains (``{run}`` filled in).
        refused_config: A run refused before anything is queued (the test also checks that
            nothing was queued and no folder made).
    """

    id: str
    input: str
    method: str
    path: str
    body: Any
    status: int
    code: str
    message: str
    refused_config: bool = False

    @property
    def shown_request(self) -> str:
        """The request as the doc shows it."""
        body = (
            ""
            if self.body is None
            else " " + ("(a body over 10 MB)" if self.body is TOO_LARGE else json.dumps(self.body))
        )
        return f"{self.method} {self.path.replace('{run}', '<run_id>')}{body}"


def _submit(id: str, input: str, overrides: list[str], message: str) -> BadRequest:
    return BadRequest(
        id, input, "POST", "/runs", {"overrides": overrides}, 422, "invalid_config", message, True
    )


BAD_REQUESTS: Final = (
    _submit("unknown-key", "a config key that does not exist", ["model.nope=1"],
            "error: Could not override 'model.nope'"),
    _submit("bad-value", "a value the model refuses", ["model=lstm", "model.hidden=-1"],
            "error: model.hidden: must be > 0"),
    _submit("unknown-preset", "a model preset that does not exist", ["model=nope"],
            "error: In 'train': Could not find 'model/nope'"),
    _submit("sweep-as-run", "sweep values in a single run", ["seed=0,1"],
            "error: seed=0,1: a sweep; submit it as one (POST /sweeps"),
    _submit("resume-key", "`resume=` in a new run", ["resume=models_out/runs/x"],
            "error: resume: not taken by the service: resume a run with POST /runs/<id>/resume"),
    _submit("output-dir", "another output folder", ["paths.output_dir=/tmp/x"],
            "error: paths.output_dir: not taken by the service"),
    _submit("hydra-key", "Hydra's own settings", ["hydra.run.dir=/tmp/x"],
            "error: hydra.run.dir: not taken by the service: Hydra's own settings are the "
            "service's (but hydra.searchpath"),
    BadRequest("malformed-overrides", "`overrides` that is not a list", "POST", "/runs",
               {"overrides": "model=lstm"}, 422, "invalid_request",
               "body.overrides: Input should be a valid list"),
    BadRequest("unknown-field", "a field the request does not have", "POST", "/runs",
               {"override": ["model=lstm"]}, 422, "invalid_request",
               "body.override: Extra inputs are not permitted"),
    BadRequest("empty-sweep", "a sweep without overrides", "POST", "/sweeps",
               {"overrides": []}, 422, "invalid_request", "body.overrides: List should have"),
    BadRequest("too-large", "a request body over `service.max_body_bytes`", "POST", "/runs",
               TOO_LARGE, 413, "request_too_large", "the request body is over 10000000 bytes"),
    BadRequest("unknown-run", "a run id the service does not know", "GET",
               "/runs/no-such-run", None, 404, "not_found", "no run or sweep 'no-such-run'"),
    BadRequest("dotdot-run", "a run id with `..`", "GET", "/runs/a..b", None, 404,
               "not_found", "no run 'a..b': not a run id"),
    BadRequest("unknown-run-cancel", "cancelling a run the service does not know", "POST",
               "/runs/no-such-run/cancel", None, 404, "not_found", "no-such-run"),
    BadRequest("bad-status-filter", "a status filter that is not a status", "GET",
               "/runs?status=done", None, 422, "invalid_request", "status: one of queued"),
    BadRequest("path-outside-run", "a file path that leaves the run folder", "GET",
               "/runs/{run}/files/..%2F..%2Fregistry.json", None, 404, "not_found",
               "has no file"),
    BadRequest("absolute-path", "an absolute file path", "GET",
               "/runs/{run}/files/%2Fetc%2Fpasswd", None, 404, "not_found", "has no file"),
    BadRequest("folder-as-file", "a folder of the run as a file", "GET",
               "/runs/{run}/files/checkpoints", None, 404, "not_found", "has no file"),
    BadRequest("cancel-finished", "cancelling a finished run", "POST", "/runs/{run}/cancel",
               None, 409, "conflict", "is finished: there is nothing to cancel"),
    BadRequest("resume-finished", "resuming a finished run", "POST", "/runs/{run}/resume",
               None, 409, "conflict", "is finished: only a canceled, interrupted or failed run"),
    BadRequest("predict-unknown-word", "a row with a word the run never saw", "POST",
               "/runs/{run}/predict",
               {"rows": [{"story": "Zork walks north.", "question":
                          "Is Zork going in the same direction as Zork?"}]},
               422, "invalid_rows", "rows[0]: 'zork' is not in the run's vocabulary"),
    BadRequest("predict-no-rows", "a prediction without rows", "POST", "/runs/{run}/predict",
               {"rows": []}, 422, "invalid_request", "body.rows: List should have"),
    BadRequest("evaluate-splits-and-rows", "evaluating on splits and rows at once", "POST",
               "/runs/{run}/evaluate", {"splits": ["test"], "rows": []}, 422,
               "invalid_request", "give splits or rows, not both"),
    BadRequest("compare-unknown", "comparing a run the service does not know", "POST",
               "/compare", {"run_ids": ["nope"]}, 404, "not_found", "nope"),
    BadRequest("unknown-job", "a job id the service does not know", "GET", "/jobs/nope",
               None, 404, "not_found", "no job 'nope'"),
    BadRequest("events-unknown-run", "the event stream of a run the service does not know",
               "GET", "/runs/no-such-run/events", None, 404, "not_found", "no-such-run"),
    BadRequest("events-bad-since", "an event stream from something that is not an event id",
               "GET", "/events?since=yesterday", None, 422, "invalid_request",
               "Last-Event-ID/since: 'yesterday' is not an event id"),
    BadRequest("log-stream-bad-offset", "a log stream from a negative offset", "GET",
               "/runs/{run}/logs/stream?offset=-1", None, 422, "invalid_request",
               "query.offset: Input should be greater than or equal to 0"),
)  # fmt: skip
