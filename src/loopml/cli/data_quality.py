"""``loopml data validate|infer-suite|attach-suite|validations|profile``: is the data good?

Suites are YAML (or JSON) files; ``infer-suite`` writes one to start from.
A failed validation exits 1, so scripts and CI can stop on bad data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, print_json, print_table
from loopml.cli.data import RefArgument, app

if TYPE_CHECKING:
    from loopml.data.validation import ValidationReport

SuiteOption = Annotated[
    Path | None, typer.Option("--suite", help="A suite file (.yaml, .yml or .json).")
]


@app.command("validate")
@friendly_errors
def validate(
    ref: RefArgument,
    suite: SuiteOption = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a version against a suite (default: the dataset's attached one); stores the report."""
    from loopml.data.validation import Suite

    loaded = Suite.load(suite) if suite is not None else None
    report = open_client(uri).data.validate(ref, loaded)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(ref, report)
    if not report.success:
        raise typer.Exit(1)


def _print_report(ref: str, report: ValidationReport) -> None:
    passed = sum(r.success for r in report.results)
    verdict = "[green]passed[/green]" if report.success else "[red]failed[/red]"
    console.print(
        f"{escape(ref)}: suite [bold]{escape(report.suite_name)}[/bold] {verdict} "
        f"({passed}/{len(report.results)} expectations, {report.row_count:,} rows, "
        f"{report.duration_ms:,} ms)",
        highlight=False,
    )
    print_table(
        "Expectations",
        ["", "expectation", "observed", "message"],
        [
            ("✓" if r.success else "✗", r.expectation.label, _short(r.observed), r.message)
            for r in report.results
        ],
    )
    for result in report.results:
        if result.failing_rows:
            rows = result.failing_rows
            columns = list(dict.fromkeys(k for row in rows for k in row))
            print_table(
                f"Failing rows: {result.expectation.label}",
                columns,
                [[row.get(c) for c in columns] for row in rows],
            )


def _short(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


@app.command("validations")
@friendly_errors
def validations(ref: RefArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Reports stored for a version, newest first."""
    reports = open_client(uri).data.validations(ref)
    if as_json:
        print_json([r.to_dict() for r in reports])
        return
    print_table(
        f"Validations of {ref}",
        ["suite", "result", "failed expectations", "rows"],
        [
            (
                r.suite_name,
                "passed" if r.success else "failed",
                ", ".join(x.expectation.label for x in r.results if not x.success),
                f"{r.row_count:,}",
            )
            for r in reports
        ],
    )


@app.command("infer-suite")
@friendly_errors
def infer_suite(
    ref: RefArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the YAML here (default: print).")
    ] = None,
    uri: UriOption = None,
) -> None:
    """Propose a suite from a version's profile: a starting point to edit and attach."""
    suite = open_client(uri).data.infer_suite(ref)
    text = suite.to_yaml()
    if output is None:
        print(text, end="")
        return
    output.write_text(text)
    console.print(
        f"wrote {len(suite.expectations)} expectations to {output}; attach with "
        f"`loopml data attach-suite {suite.name} {output}`",
        highlight=False,
    )


@app.command("attach-suite")
@friendly_errors
def attach_suite(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    suite: Annotated[
        Path | None, typer.Argument(help="A suite file; leave out with --detach.")
    ] = None,
    detach: Annotated[bool, typer.Option(help="Remove the attached suite.")] = False,
    uri: UriOption = None,
) -> None:
    """Validate every new version of NAME against a suite when it is added."""
    from loopml.data.validation import Suite

    if (suite is None) != detach:
        raise typer.BadParameter("give a suite file, or --detach (not both)")
    loaded = None if suite is None else Suite.load(suite)
    open_client(uri).data.attach_suite(name, loaded)
    if loaded is None:
        console.print(f"{name}: suite detached", highlight=False)
    else:
        console.print(
            f"{name}: suite [bold]{escape(loaded.name)}[/bold] attached "
            f"({len(loaded.expectations)} expectations); new versions are validated on add",
            highlight=False,
        )


@app.command("profile")
@friendly_errors
def profile(
    ref: RefArgument,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the profile as an HTML page here.")
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per-column statistics of a version: counts, ranges, quantiles, top values."""
    from loopml.data.report import render_profile_html

    client = open_client(uri)
    found = client.data.profile(ref)
    if html is not None:
        html.write_text(render_profile_html(found, ref))
    if as_json:
        print_json(found.to_dict())
        return
    print_table(
        f"Profile of {ref}: {found.row_count:,} rows",
        ["column", "type", "missing", "distinct", "min", "max", "mean", "top"],
        [
            (
                c.name,
                c.type,
                f"{c.missing_fraction:.1%}",
                f"{c.distinct:,}",
                c.min,
                c.max,
                "" if c.mean is None else f"{c.mean:.4g}",
                ", ".join(str(v) for v, _ in c.top_values[:3]),
            )
            for c in found.columns
        ],
    )
    if html is not None:
        console.print(f"wrote {html}", highlight=False)
