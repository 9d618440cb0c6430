"""``loopml demo``: the whole loop on the embedded store, in a few minutes.

A loan-default model is tuned and trained through a pipeline, evaluated,
released and served; weeks of applications are replayed with labels a week
late; a recession drifts them, the monitor alerts, the policy retrains, gates,
canaries and promotes; then a deliberately bad retrain is rejected and a
degrading canary rolled back. The story is in :mod:`loopml.demo.story`; this
command narrates it, prints the timeline and says how to look at everything.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from loopml.cli._common import UriOption, friendly_errors
from loopml.cli._output import console, print_table


@friendly_errors
def demo(
    uri: UriOption = None,
    out: Annotated[Path, typer.Option(help="Where the HTML reports go.")] = Path("demo-report"),
    quick: Annotated[bool, typer.Option(help="Fewer rows and trials (a test's size).")] = False,
) -> None:
    """Tell loopml's story: train, serve, drift, retrain, gate, canary, promote, roll back."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before OpenMP loads: see Story.tell
    from loopml.client import Client
    from loopml.core.errors import InvalidState
    from loopml.demo.story import MODEL, Scale, Story

    client = Client(uri)
    if getattr(client, "settings", None) is None:
        raise InvalidState("the demo runs on an embedded store: drop --uri, or give a folder")
    if client.registry.search_registered_models(f"name = '{MODEL}'").items:
        raise InvalidState(
            f"{client.settings.home} already holds the demo's model {MODEL!r}; "
            "run it on a fresh home: LOOPML_HOME=another-folder loopml demo"
        )
    scale = Scale.quick() if quick else Scale()
    _quiet_logs()
    with console.status("starting", spinner="dots") as status:
        started = time.monotonic()

        def say(text: str) -> None:
            console.print(f"[dim]{time.monotonic() - started:5.0f}s[/dim] {text}", highlight=False)
            status.update(text)

        timeline = Story(client, out, scale=scale, say=say).tell()
    rows = [(f"week {e.week}", e.what, e.detail) for e in timeline.events]
    print_table("what happened", ["when", "what", "detail"], rows)
    for policy, state in sorted(timeline.outcomes.items()):
        console.print(f"policy {policy}: [bold]{state}[/bold]", highlight=False)
    champion = client.registry.get_model_version_by_alias(MODEL, "champion")
    console.print(f"champion now: {MODEL} v{champion.version}", highlight=False)
    for report in timeline.reports:
        console.print(f"report: {report}", highlight=False)
    _say_what_next(client.settings.home, champion.version)
    client.close()


def _quiet_logs() -> None:
    """The timeline tells what the alert and policy notifications say; Optuna's trial
    lines and the log notifier's copies would drown it."""
    import logging

    logging.getLogger("optuna").setLevel(logging.WARNING)
    logging.getLogger("loopml.alerts").setLevel(logging.ERROR)


def _say_what_next(home: Path, version: int) -> None:
    import os
    import shutil
    import sys

    env = "" if home == Path(".loopml").resolve() else f"LOOPML_HOME={home} "
    # after `make demo` the command is .venv/bin/loopml, not on PATH: say it as it runs
    installed = Path(sys.executable).with_name("loopml")
    loopml = "loopml" if shutil.which("loopml") else os.path.relpath(installed)
    env += loopml
    commands = [
        f"{env} models lineage {MODEL_NAME} {version}",
        f"{env} policies history loan-retrain",
        f"{env} endpoints history loan-api",
        f"{env} monitors show loan-watch",
        f"{env} audit list --limit 30",
        f"{env} server      # then open http://127.0.0.1:5000",
    ]
    console.print("look at everything it recorded:")
    for command in commands:
        console.print(f"  {command}", soft_wrap=True, highlight=False)


MODEL_NAME = "loan"
