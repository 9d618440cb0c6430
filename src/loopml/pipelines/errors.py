"""What can go wrong while a step runs, as exceptions a step's ``retry_on`` can name.

A step's own exception is reported by its type; these stand for the failures
that happen around it (the clock ran out, the worker vanished), so a user can
retry on them like on any other error: ``@step(retries=2, retry_on=(WorkerLost,))``.
"""

from __future__ import annotations

from loopml.core.errors import InvalidState, LoopmlError


class StepTimeout(LoopmlError):
    """A step ran past its ``timeout_s`` and was stopped (its worker process killed)."""

    error_code = "STEP_TIMEOUT"


class WorkerLost(LoopmlError):
    """The process or Ray worker running a step died before it answered (a crash, a kill)."""

    error_code = "WORKER_LOST"


class PipelineFailed(InvalidState):
    """Raised by ``PipelineRun.raise_for_status()``: some steps failed; the message names them."""
