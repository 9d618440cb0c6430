"""A model card for one version: what it is, who owns it, what it learned from, how it did.

The card gathers what the registry and tracking already hold (the version,
its lineage, run metrics, the latest evaluation with its segments and
fairness measures, the release gates with every rule's value and override,
approvals, aliases, integrity) plus what only people know, kept as tags of
the registered model: ``loopml.card.owner``, ``loopml.card.intended_use`` and
``loopml.card.limitations``. Sections are built once as plain blocks
(paragraphs and tables) and written as Markdown or as one self-contained
HTML page (inline style, no script); every user-supplied string is escaped
in both.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopmlError
from loopml.registry.lineage import LineageNode, VersionLineage, version_lineage

if TYPE_CHECKING:
    from loopml.client import Client
    from loopml.registry.entities import (
        AliasPolicy,
        Approval,
        GateCheck,
        ModelVersion,
        RegisteredModel,
        StoredEvaluation,
    )

OWNER_TAG = "loopml.card.owner"
INTENDED_USE_TAG = "loopml.card.intended_use"
LIMITATIONS_TAG = "loopml.card.limitations"
CARD_TAGS = {OWNER_TAG: "Owner", INTENDED_USE_TAG: "Intended use", LIMITATIONS_TAG: "Limitations"}
REPORT_PATH = "evaluation/report.json"
NOT_SET = "not set"
SECTION_TITLES = (
    "Model and version",
    "Owner and intended use",
    "Training data and lineage",
    "Metrics",
    "Segments and fairness",
    "Release gates",
    "Approvals",
    "Aliases and stage",
    "Integrity",
)


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Command:
    """A command for the reader to run, shown as code."""

    text: str


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: Sequence[Sequence[str]]
    caption: str = ""


Block = Paragraph | Command | Table


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block]


@dataclass(frozen=True)
class ModelCard:
    """Everything a card shows about one version; render it as Markdown or HTML."""

    model: RegisteredModel
    version: ModelVersion
    lineage: VersionLineage
    evaluation: StoredEvaluation | None = None
    report: dict[str, Any] | None = None
    policies: list[AliasPolicy] = field(default_factory=list)
    gate_checks: list[GateCheck] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Model card: {self.version.name} version {self.version.version}"

    def sections(self) -> list[Section]:
        """The card's content, in :data:`SECTION_TITLES` order, as plain blocks."""
        return [
            Section(SECTION_TITLES[0], _identity(self)),
            Section(SECTION_TITLES[1], _ownership(self)),
            Section(SECTION_TITLES[2], _training(self)),
            Section(SECTION_TITLES[3], _metrics(self)),
            Section(SECTION_TITLES[4], _segments_and_fairness(self)),
            Section(SECTION_TITLES[5], _gates(self)),
            Section(SECTION_TITLES[6], _approvals(self)),
            Section(SECTION_TITLES[7], _aliases(self)),
            Section(SECTION_TITLES[8], _integrity(self)),
        ]

    def render_markdown(self) -> str:
        """Markdown; user text has HTML and Markdown syntax escaped, so it shows as typed."""
        return _markdown(self.title, self.sections())

    def render_html(self) -> str:
        """One self-contained page: inline style, no script, everything escaped."""
        return _html(self.title, self.sections())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.version.name,
            "version": self.version.version,
            "card": {key: self.model.tags.get(key) for key in CARD_TAGS},
            "lineage": self.lineage.to_dict(),
            "evaluation": self.evaluation.to_dict() if self.evaluation else None,
            "policies": [p.to_dict() for p in self.policies],
            "gate_checks": [c.to_dict() for c in self.gate_checks],
            "approvals": [a.to_dict() for a in self.approvals],
            "aliases": list(self.version.aliases),
            "stage": self.version.current_stage,
            "manifest_digest": self.version.manifest_digest,
            "trusted": self.version.trusted,
        }


def model_card(client: Client, name: str, version: int | str) -> ModelCard:
    """The card of version ``version`` of ``name``.

    Args:
        client: a :class:`loopml.Client` (registry, tracking and data).
        name: the registered model.
        version: its version number.

    Raises:
        ResourceNotFound: the model or version does not exist.
    """
    registry = client.registry
    target = registry.get_model_version(name, version)
    evaluations = registry.evaluations(name, target.version)
    latest = evaluations[-1] if evaluations else None
    return ModelCard(
        model=registry.get_registered_model(name),
        version=target,
        lineage=version_lineage(client, name, target.version),
        evaluation=latest,
        report=_report(client, latest),
        policies=registry.alias_policies(name),
        gate_checks=registry.gate_checks(name, target.version),
        approvals=registry.approvals(name, target.version),
    )


def _report(client: Client, evaluation: StoredEvaluation | None) -> dict[str, Any] | None:
    """The full report ``log_evaluation`` wrote to the evaluation's run, when there is one."""
    if evaluation is None or not evaluation.run_id:
        return None
    try:
        found = json.loads(client.download_artifact(evaluation.run_id, REPORT_PATH))
    except (LoopmlError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def when(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return ""
    stamp = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


# --- sections ------------------------------------------------------------------------------


def _identity(card: ModelCard) -> list[Block]:
    version, model = card.version, card.model
    rows = [
        ("Model", version.name),
        ("Version", str(version.version)),
        ("Model description", model.description or "none"),
        ("Version description", version.description or "none"),
        ("Registered", f"{when(version.created_ms)} by {version.created_by}"),
        ("Source", version.source),
        ("Run", version.run_id or "none"),
    ]
    if version.model_id:
        rows.append(("Logged model", version.model_id))
    if version.tags:
        rows.append(("Version tags", _pairs(version.tags)))
    other = {k: v for k, v in model.tags.items() if k not in CARD_TAGS}
    if other:
        rows.append(("Model tags", _pairs(other)))
    return [Table(("Field", "Value"), rows)]


def _ownership(card: ModelCard) -> list[Block]:
    tags = card.model.tags
    rows = [(label, tags.get(key) or NOT_SET) for key, label in CARD_TAGS.items()]
    blocks: list[Block] = [Table(("Field", "Value"), rows)]
    unset = [key for key in CARD_TAGS if not tags.get(key)]
    if unset:
        blocks.append(Paragraph("Set what is missing as tags of the registered model:"))
        name = shlex.quote(card.version.name)
        blocks.extend(Command(f'loopml models tag {name} {key} "..."') for key in unset)
    return blocks


def _training_run(card: ModelCard) -> LineageNode | None:
    """The node of the run that produced the version (directly, or via its logged model)."""
    lineage = card.lineage
    for relation, node in lineage.sources_of(lineage.root):
        if node.kind == "logged_model":
            runs = [n for rel, n in lineage.sources_of(node.id) if rel == "produced_by"]
            if runs:
                return runs[0]
        if relation == "produced_by":
            return node
    return None


def _training(card: ModelCard) -> list[Block]:
    lineage = card.lineage
    run = _training_run(card)
    if run is None or run.missing:
        reason = run.attributes.get("reason", "") if run is not None else ""
        return [Paragraph(f"No training run is recorded for this version. {reason}".strip())]
    data = [node for rel, node in lineage.sources_of(run.id) if rel == "trained_on"]
    blocks: list[Block] = [
        Paragraph(
            f"Trained in run {run.label}; training data: "
            + (", ".join(_dataset_text(lineage, node) for node in data) or "none recorded")
            + "."
        )
    ]
    rows = [
        ("· " * (row.depth - 1) + f"{row.relation} → {row.node.kind} {row.node.label}",
         _node_details(row.node, row.repeated))
        for row in lineage.rows()[1:]
    ]  # fmt: skip
    blocks.append(Table(("Lineage", "Details"), rows))
    params = run.attributes.get("params", {})
    if params:
        blocks.append(Table(("Parameter", "Value"), sorted(params.items()), "Parameters"))
    for _, node in lineage.sources_of(run.id):
        if node.kind == "environment" and not node.missing:
            packages = sorted(node.attributes["packages"].items())
            caption = f"Environment: Python {node.attributes['python'] or 'unknown'}"
            blocks.append(Table(("Package", "Version"), packages, caption))
    return blocks


def _dataset_text(lineage: VersionLineage, node: LineageNode) -> str:
    parents = [p.label for rel, p in lineage.sources_of(node.id) if rel == "derived_from"]
    text = node.label + (" (missing)" if node.missing else "")
    return text + (f" derived from {', '.join(parents)}" if parents else "")


def _node_details(node: LineageNode, repeated: bool) -> str:
    details = node.attributes
    if node.missing:
        return f"missing: {details.get('reason', 'not found')}"
    if repeated:
        return "shown above"
    if node.kind == "run":
        by = f" by {details['user']}" if details["user"] else ""
        return f"{details['status']}, started {when(details['start_time'])}{by}"
    if node.kind == "dataset_version":
        return f"content {details['content_hash'][:12]}"
    if node.kind == "code":
        return f"commit {details['commit']}" + (
            " with uncommitted changes" if details["dirty"] else ""
        )
    if node.kind == "environment":
        return f"Python {details['python'] or 'unknown'}, {len(details['packages'])} packages"
    if node.kind == "logged_model":
        return f"{details['status']}, {details['artifact_location']}"
    return ""


def _metrics(card: ModelCard) -> list[Block]:
    blocks: list[Block] = []
    run = _training_run(card)
    metrics = run.attributes.get("metrics", {}) if run is not None and not run.missing else {}
    if metrics:
        trained = [(key, number(value)) for key, value in sorted(metrics.items())]
        blocks.append(Table(("Metric", "Value"), trained, "Training run metrics"))
    evaluation = card.evaluation
    if evaluation is None:
        blocks.append(Paragraph("No evaluation is recorded for this version."))
        return blocks
    blocks.append(
        Paragraph(
            f"Latest evaluation {evaluation.evaluation_id} on "
            f"{evaluation.dataset or 'unnamed data'}, {when(evaluation.created_ms)} by "
            f"{evaluation.created_by}" + (f", run {evaluation.run_id}" if evaluation.run_id else "")
            + "."
        )
    )  # fmt: skip
    result = evaluation.result
    baseline, delta = result.get("baseline", {}), result.get("delta", {})
    rows = [
        (key, number(value), number(baseline.get(key)), number(delta.get(key)))
        for key, value in result.items()
        if not isinstance(value, dict)
    ]
    blocks.append(Table(("Metric", "Value", "Baseline", "Delta"), rows, "Latest evaluation"))
    return blocks + _report_blocks(card.report, evaluation.run_id)


def _report_blocks(report: dict[str, Any] | None, run_id: str | None) -> list[Block]:
    if report is None:
        return []
    blocks: list[Block] = [
        Paragraph(
            f"Task {report.get('task')}, target {report.get('target')}, "
            f"{report.get('row_count')} rows, {len(report.get('features') or [])} features. "
            f"Full report: artifact evaluation/report.html of run {run_id}."
        )
    ]
    blocks.extend(Paragraph(f"Note: {note}") for note in report.get("notes") or [])
    importance = (report.get("importance") or [])[:10]
    if importance:
        rows = [(str(i["feature"]), number(i["mean"]), number(i["std"])) for i in importance]
        scoring = report.get("importance_scoring") or "score"
        caption = f"Permutation importance (drop in {scoring})"
        blocks.append(Table(("Feature", "Mean", "Std"), rows, caption))
    return blocks


def _segments_and_fairness(card: ModelCard) -> list[Block]:
    result = card.evaluation.result if card.evaluation else {}
    blocks: list[Block] = []
    for column, by_metric in sorted(_mapping(result.get("segment")).items()):
        blocks.append(_group_table(f"Segments by {column}", "Segment", _mapping(by_metric)))
    for column, values in sorted(_mapping(result.get("fairness")).items()):
        values = _mapping(values)
        measures = [(k, number(v)) for k, v in values.items() if not isinstance(v, dict)]
        blocks.append(Table(("Measure", "Value"), measures, f"Fairness by {column}"))
        groups = {k: v for k, v in values.items() if isinstance(v, dict)}
        blocks.append(_group_table(f"Groups of {column}", "Group", groups))
    if not blocks:
        blocks.append(Paragraph("The latest evaluation has no segment or fairness results."))
    return blocks


def _group_table(caption: str, first: str, by_metric: dict[str, Any]) -> Table:
    """``{metric: {group: value}}`` as one row per group, one column per metric."""
    metrics = sorted(by_metric, key=lambda m: (m != "count", m))
    groups = list(dict.fromkeys(g for m in metrics for g in _mapping(by_metric[m])))
    rows = [
        (group, *(number(_mapping(by_metric[m]).get(group)) for m in metrics)) for group in groups
    ]
    return Table((first, *metrics), rows, caption)


def _gates(card: ModelCard) -> list[Block]:
    here = set(card.version.aliases)
    name = shlex.quote(card.version.name)
    if card.policies:
        rows = [
            (p.alias, "yes" if p.alias in here else "no", _yes(p.require_approval),
             _yes(p.four_eyes), "; ".join(p.gates) or "none")
            for p in card.policies
        ]  # fmt: skip
        columns = ("Alias", "Points here", "Approval", "Four eyes", "Gates")
        blocks: list[Block] = [Table(columns, rows, "Alias policies")]
    else:
        blocks = [
            Paragraph("No alias of this model has a policy; set one with:"),
            Command(f'loopml models policy {name} ALIAS --gate "accuracy >= 0.9"'),
        ]
    if not card.gate_checks:
        blocks.append(Paragraph("No gate has been checked for this version yet."))
    for check in card.gate_checks:
        blocks.append(Paragraph(_check_text(check)))
        rows = [
            (r["rule"], number(r.get("left")), number(r.get("right")),
             "passed" if r["passed"] else "failed", r.get("message", ""))
            for r in check.results
        ]  # fmt: skip
        blocks.append(Table(("Rule", "Value", "Threshold", "Result", "Message"), rows))
    return blocks


def _check_text(check: GateCheck) -> str:
    text = f"Gates of alias {check.alias}, checked {when(check.created_ms)} by {check.created_by}: "
    if check.passed:
        return text + "passed."
    if check.overridden_by:
        return text + f"failed, overridden by {check.overridden_by}: {check.override_reason}"
    return text + "failed; the alias did not move."


def _approvals(card: ModelCard) -> list[Block]:
    if not card.approvals:
        return [Paragraph("No approval has been requested for this version.")]
    rows = [
        (a.approval_id, a.alias, a.state.value, f"{a.requested_by} ({when(a.requested_ms)})",
         a.comment, f"{a.decided_by} ({when(a.decided_ms)})" if a.decided_by else "", a.reason)
        for a in card.approvals
    ]  # fmt: skip
    columns = ("Id", "Alias", "State", "Requested by", "Comment", "Decided by", "Reason")
    return [Table(columns, rows)]


def _aliases(card: ModelCard) -> list[Block]:
    mine = ", ".join(sorted(card.version.aliases)) or "none"
    blocks: list[Block] = [
        Paragraph(f"Aliases on this version: {mine}. Stage: {card.version.current_stage}.")
    ]
    if card.model.aliases:
        rows = [(alias, str(v)) for alias, v in sorted(card.model.aliases.items())]
        blocks.append(Table(("Alias", "Version"), rows, f"All aliases of {card.version.name}"))
    return blocks


def _integrity(card: ModelCard) -> list[Block]:
    version = card.version
    trusted = (
        "yes: an admin allowed code-executing formats (pickle) to load"
        if version.trusted
        else "no: only formats that run no code on load (skops, ONNX) load"
    )
    rows = [
        ("Manifest digest (sha256 over every file)", version.manifest_digest or "none"),
        ("Trusted", trusted),
        ("Storage location", version.storage_location),
        ("Status", version.status),
    ]
    return [Table(("Field", "Value"), rows)]


def _pairs(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def number(value: Any) -> str:
    """A value for a table cell: numbers to 6 significant digits, nothing as ``—``."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return f"{value:.6g}"


# --- rendering -----------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|#~!{}])")
_EMPHASIS_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_LINE_START = re.compile(r"^([-+>=]|\d+[.)])(?=\s|$)")


def escape_markdown(text: str) -> str:
    """``text`` as literal Markdown: one line, HTML and Markdown syntax neutralised."""
    flat = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;")
    flat = _MARKDOWN_SPECIAL.sub(r"\\\1", flat)
    flat = _EMPHASIS_UNDERSCORE.sub(r"\\_", flat)
    return _LINE_START.sub(r"\\\1", flat)


def _markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {escape_markdown(title)}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            out += [*_markdown_block(block), ""]
    return "\n".join(out)


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        return [escape_markdown(block.text)]
    if isinstance(block, Command):
        return ["    " + " ".join(block.text.split())]  # an indented code block: nothing renders
    lines = [f"**{escape_markdown(block.caption)}**", ""] if block.caption else []
    lines.append("| " + " | ".join(escape_markdown(c) for c in block.columns) + " |")
    lines.append("|" + "---|" * len(block.columns))
    lines += ["| " + " | ".join(escape_markdown(c) for c in row) + " |" for row in block.rows]
    return lines


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } caption { text-align: left; font-weight: 600; padding: .3rem 0; }
pre { background: #f6f8fa; padding: .5rem .8rem; overflow-x: auto; }
"""


def _html(title: str, sections: list[Section]) -> str:
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for section in sections:
        out.append(f"<section><h2>{esc(section.title)}</h2>")
        out += [_html_block(block) for block in section.blocks]
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def _html_block(block: Block) -> str:
    esc = html.escape
    if isinstance(block, Paragraph):
        return f"<p>{esc(block.text)}</p>"
    if isinstance(block, Command):
        return f"<pre><code>{esc(block.text)}</code></pre>"
    caption = f"<caption>{esc(block.caption)}</caption>" if block.caption else ""
    head = "".join(f"<th>{esc(c)}</th>" for c in block.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block.rows
    )
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
