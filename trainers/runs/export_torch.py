"""ONNX and TorchScript exports of a PyTorch run model (see :mod:`trainers.runs.export`).

Both wrap the network so that the artefact outputs probabilities (the sigmoid of its logit):
input ``input_ids`` (``int64 [batch, length]``), output ``probability`` (``float32 [batch]``).
Before export the network runs once on the longest probe rows, so buffers it grows on demand
(a positional table) are sized for them.

* ONNX goes through ``torch.export`` (``torch.onnx.export(dynamo=True)``) with a dynamic batch
  and length. ``torch.export`` refuses Python control flow that depends on the data, so a model
  it cannot capture is refused with its reason; a length it can only hold up to some size is
  recorded as a limit (from the exported program's range constraints).
* TorchScript is a trace (``torch.jit.trace``): Python branches and loops are fixed to the
  example's. The branches it fixed in the model's own code are recorded, and the check on the
  run's rows (:func:`trainers.runs.export.check_export`) refuses a trace that does not hold.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np

#: The exported artefacts' file names.
ONNX_FILE: Final = "model.onnx"
TORCHSCRIPT_FILE: Final = "model.pt"
#: Loggers of the exporters' progress lines.
EXPORTER_LOGGERS: Final = ("torch", "onnxscript", "onnx_ir")


class ExportFailure(Exception):
    """The exporter could not capture the model (the message says why)."""


def probability_module(network: Any) -> Any:
    """``network`` wrapped to return ``sigmoid(logits)`` as ``float32 [batch]``, in eval
    mode."""
    import torch

    class ProbabilityModule(torch.nn.Module):
        """The network's probability of ``yes``."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.network = inner

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.network(input_ids).float()).reshape(-1)

    return ProbabilityModule(network).eval()


def warm_up(module: Any, batches: list[dict[str, np.ndarray]]) -> None:
    """Run ``module`` once on the widest batch (sizes buffers grown on demand)."""
    import torch

    widest = max(batches, key=lambda batch: batch["input_ids"].shape[1])
    with torch.inference_mode():
        module(torch.from_numpy(widest["input_ids"].astype(np.int64)))


def example_input(batches: list[dict[str, np.ndarray]]) -> Any:
    """Two rows of the narrowest batch: a small example with a batch size above 1 (an example
    of 1 row would fix the batch size)."""
    import torch

    narrowest = min(batches, key=lambda batch: batch["input_ids"].shape[1])
    ids = narrowest["input_ids"]
    rows = ids[:2] if len(ids) >= 2 else np.repeat(ids, 2, axis=0)
    return torch.from_numpy(np.ascontiguousarray(rows).astype(np.int64))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' progress lines and advice, silenced (their errors still raise)."""
    levels = {name: logging.getLogger(name).level for name in EXPORTER_LOGGERS}
    for name in EXPORTER_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def export_onnx(module: Any, example: Any, folder: Path) -> list[str]:
    """Write ``model.onnx``; returns the limits found (the longest input it holds).

    Raises:
        ExportFailure: ``torch.export`` or the ONNX translation failed.
    """
    import torch

    dynamic = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}
    try:
        with _quiet():
            program = torch.onnx.export(
                module,
                (example,),
                str(folder / ONNX_FILE),
                input_names=["input_ids"],
                output_names=["probability"],
                dynamic_shapes=(dynamic,),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except Exception as error:
        raise ExportFailure(_reason(error)) from None
    return _length_limits(program)


def _length_limits(program: Any) -> list[str]:
    exported = getattr(program, "exported_program", None)
    if exported is None:
        return []
    limits = []
    for symbol, bounds in exported.range_constraints.items():
        upper: Any = getattr(bounds, "upper", None)
        try:
            finite = int(upper)
        except Exception:  # sympy's infinity: no limit
            continue
        if finite < 2**31:
            limits.append(
                f"a dimension of input_ids ({symbol}) is at most {finite}: the export holds "
                f"rows of up to {finite} tokens (longer ones fail)"
            )
    return limits


def export_torchscript(module: Any, example: Any, folder: Path) -> list[str]:
    """Write ``model.pt`` (a trace); returns where the trace fixed the model's own Python
    control flow to the example's.

    Raises:
        ExportFailure: The trace failed.
    """
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                traced = torch.jit.trace(module, example, check_trace=False)
                torch.jit.save(traced, str(folder / TORCHSCRIPT_FILE))
        except Exception as error:
            raise ExportFailure(_reason(error)) from None
    return fixed_branches(caught)


def fixed_branches(caught: list[warnings.WarningMessage]) -> list[str]:
    """``file:line`` of the tracer's warnings raised by the model's own code (not by
    PyTorch's): where the trace fixed a branch or a loop to the example's."""
    import torch

    torch_dir = str(Path(torch.__file__).parent)
    places: dict[str, None] = {}
    for warning in caught:
        if warning.category.__name__ != "TracerWarning" or warning.filename.startswith(torch_dir):
            continue
        places.setdefault(f"{_short(warning.filename)}:{warning.lineno}", None)
    return list(places)


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("models", "site-packages"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return Path(filename).name


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CALL_SITE = re.compile(r'File "([^"]+)", line (\d+), in \w+\n\s*(.+)')


def _reason(error: BaseException) -> str:
    """One line: the exporter's own summary of what failed and, when it names one, the line of
    the model's code that raised it."""
    text = _ANSI.sub("", str(error)).strip()
    summary = ""
    if "## Exception summary" in text:
        after = text.split("## Exception summary", 1)[1].strip().splitlines()
        summary = after[0].split(">: ", 1)[-1].strip() if after else ""
    if not summary:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        summary = f"{type(error).__name__}: {lines[0] if lines else ''}"
    site = _CALL_SITE.search(text.split("The following call raised this error:", 1)[-1])
    where = f" at {_short(site.group(1))}:{site.group(2)} ({site.group(3).strip()})" if site else ""
    return f"{summary[:300]}{where}"


def onnx_runner(folder: Path) -> Any:
    """Probabilities of a batch from the written ONNX file (onnxruntime)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(folder / ONNX_FILE), providers=["CPUExecutionProvider"]
    )

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        ids = batch["input_ids"].astype(np.int64)
        return np.asarray(session.run(None, {"input_ids": ids})[0], dtype=np.float64).reshape(-1)

    return run


def torchscript_runner(folder: Path) -> Any:
    """Probabilities of a batch from the written TorchScript file (``torch.jit.load``)."""
    import torch

    loaded = torch.jit.load(str(folder / TORCHSCRIPT_FILE), map_location="cpu")

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            out = loaded(torch.from_numpy(batch["input_ids"].astype(np.int64)))
        return out.numpy().astype(np.float64).reshape(-1)

    return run
