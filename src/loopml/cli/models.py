"""``loopml models ...``: registered models, versions, lineage, diffs, cards and releases.

Releases go through aliases: ``promote`` moves an alias if its policy's gates
pass on the version's latest evaluation (each rule's value is printed) and
its approval is there; an admin may override failing gates with a reason,
which is audited. Every user-supplied string is printed literally (Rich
markup in a description is not interpreted).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, print_json, print_table, when
from loopml.core.errors import InvalidParameter, InvalidState

if TYPE_CHECKING:
    from loopml.registry import AliasPolicy, Approval, GateCheck, ModelVersion

app = typer.Typer(
    help="Registered models: versions, lineage, diffs, cards, gates and approvals.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Registered model name.")]
VersionArgument = Annotated[str, typer.Argument(help="Version number.")]
AliasOption = Annotated[str, typer.Option("--alias", "-a", help="Alias, e.g. champion.")]


def _table(title: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """A Rich table whose cells are shown as typed (markup in user text is escaped)."""
    safe = [tuple(escape("" if c is None else str(c)) for c in row) for row in rows]
    print_table(escape(title), columns, safe)


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- models and versions ----------------------------------------------------------------


@app.command("list")
@friendly_errors
def list_models(
    filter_string: Annotated[
        str | None, typer.Option("--filter", help="e.g. \"name LIKE 'churn%'\"")
    ] = None,
    max_results: Annotated[int, typer.Option(help="At most this many.")] = 100,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List registered models with their aliases and latest versions."""
    page = open_client(uri).registry.search_registered_models(
        filter_string, max_results=max_results
    )
    if as_json:
        print_json(page.items)
        return
    _table(
        "Registered models",
        ["name", "latest", "aliases", "description", "updated"],
        [
            (
                m.name,
                max((v.version for v in m.latest_versions), default=""),
                _aliases(m.aliases),
                m.description,
                when(m.updated_ms),
            )
            for m in page.items
        ],
    )


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"@{a}→v{v}" for a, v in sorted(aliases.items()))


@app.command("show")
@friendly_errors
def show(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Show a model: description, tags, aliases, alias policies and latest versions."""
    registry = open_client(uri).registry
    model = registry.get_registered_model(name)
    policies = registry.alias_policies(name)
    if as_json:
        print_json({"model": model, "policies": [p.to_dict() for p in policies]})
        return
    _say(f"{model.name}: {model.description or '(no description)'}")
    _say(f"created {when(model.created_ms)} by {model.created_by}")
    for key, value in sorted(model.tags.items()):
        _say(f"  tag {key} = {value}")
    _say(f"aliases: {_aliases(model.aliases) or 'none'}")
    _print_policies(name, policies)
    _print_versions(f"Latest versions of {name}", model.latest_versions)


@app.command("register")
@friendly_errors
def register(
    name: NameArgument,
    source: Annotated[
        str,
        typer.Argument(help="runs:/RUN_ID/path, models:/m-<logged model id> or a models:/ URI."),
    ],
    description: Annotated[str, typer.Option(help="What this version is.")] = "",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register the model files at SOURCE as the next version of NAME (created if new).

    The sha256 of every file is taken now; every later load verifies against it.
    """
    from loopml.core.errors import ResourceNotFound

    registry = open_client(uri).registry
    try:
        registry.get_registered_model(name)
    except ResourceNotFound:
        registry.create_registered_model(name)
    version = registry.create_model_version(name, source, description=description)
    if as_json:
        print_json(version)
        return
    _say(f"registered {name} v{version.version} from {source}")
    _say(f"manifest {version.manifest_digest}")


@app.command("tag")
@friendly_errors
def tag(
    name: NameArgument,
    key: Annotated[str, typer.Argument(help="e.g. loopml.card.owner")],
    value: Annotated[str | None, typer.Argument(help="The value (omit with --delete).")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the tag.")] = False,
    uri: UriOption = None,
) -> None:
    """Set (or --delete) a tag of a registered model; loopml.card.* tags feed its model cards."""
    registry = open_client(uri).registry
    if delete:
        registry.delete_registered_model_tag(name, key)
        _say(f"removed tag {key} of {name}")
        return
    if value is None:
        raise InvalidParameter("give a VALUE, or --delete to remove the tag")
    registry.set_registered_model_tag(name, key, value)
    _say(f"set tag {key} of {name}")


@app.command("versions")
@friendly_errors
def versions(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List a model's versions, newest first."""
    registry = open_client(uri).registry
    registry.get_registered_model(name)  # an unknown model is an error, not an empty list
    found = registry.search_model_versions(f"name = {_quoted(name)}").items
    found = sorted(found, key=lambda v: v.version, reverse=True)
    if as_json:
        print_json(found)
        return
    _print_versions(f"Versions of {name}", found)


def _print_versions(title: str, found: list[ModelVersion]) -> None:
    _table(
        title,
        [
            "version",
            "stage",
            "aliases",
            "run id",
            "trusted",
            "created by",
            "created",
            "description",
        ],
        [
            (
                v.version,
                v.current_stage,
                ", ".join(f"@{a}" for a in v.aliases),
                v.run_id or "",
                "yes" if v.trusted else "no",
                v.created_by,
                when(v.created_ms),
                v.description,
            )
            for v in found
        ],
    )


@app.command("lineage")
@friendly_errors
def lineage(
    name: NameArgument, version: VersionArgument, uri: UriOption = None, as_json: JsonOption = False
) -> None:
    """Show where a version came from: run, params, metrics, data, code, environment."""
    from loopml.registry.lineage import version_lineage

    graph = version_lineage(open_client(uri), name, version)
    if as_json:
        print_json(graph.to_dict())
        return
    _say(graph.render_tree())


@app.command("diff")
@friendly_errors
def diff(
    name: NameArgument,
    a: Annotated[str, typer.Argument(help="The version to compare from.")],
    b: Annotated[str, typer.Argument(help="The version to compare to.")],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what changed from version A to version B: params, metrics, data, code, evaluation."""
    from loopml.registry.diff import diff_versions

    found = diff_versions(open_client(uri), name, a, b)
    if as_json:
        print_json(found.to_dict())
        return
    for note in found.notes:
        _say(f"note: {note}")
    if not found.changed:
        _say(f"versions {found.a} and {found.b} of {name} do not differ")
        return
    for section, changes in found.changes.items():
        if changes:
            _table(
                f"{section} (v{found.a} → v{found.b}; {found.same[section]} unchanged)",
                ["key", "change", f"v{found.a}", f"v{found.b}", "delta"],
                [
                    (c.key, c.status, _cell(c.before), _cell(c.after), _signed(c.delta))
                    for c in changes
                ],
            )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.6g}"


# --- releases ---------------------------------------------------------------------------


@app.command("promote")
@friendly_errors
def promote(
    name: NameArgument,
    version: VersionArgument,
    alias: AliasOption,
    override_reason: Annotated[
        str | None,
        typer.Option(help="Admins only: move the alias although gates fail, for this reason."),
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS at VERSION if the alias's gates pass and its approval is there."""
    registry = open_client(uri).registry
    checked_before = len(registry.gate_checks(name, version))
    try:
        done = registry.promote(name, version, alias, override_reason=override_reason)
    except InvalidState:
        checks = registry.gate_checks(name, version)
        if len(checks) > checked_before:  # the refusal recorded this check: show each rule
            _print_check(checks[-1])
        raise
    if as_json:
        print_json(done)
        return
    was = f" (was v{done.previous})" if done.previous is not None else ""
    _say(f"@{alias} of {name} → v{done.version.version}{was}")
    if done.gate_check is not None:
        _print_check(done.gate_check)
    if done.approval is not None:
        _say(f"approval {done.approval.approval_id} by {done.approval.decided_by}")


def _print_check(check: GateCheck) -> None:
    verdict = "passed" if check.passed else "failed"
    if check.overridden_by:
        verdict = f"failed, overridden by {check.overridden_by}: {check.override_reason}"
    _table(
        f"Gates of @{check.alias} for v{check.version}: {verdict}",
        ["rule", "value", "threshold", "result"],
        [
            (r["rule"], _cell(r.get("left")), _cell(r.get("right")), _result(r))
            for r in check.results
        ],
    )


def _result(rule: dict[str, Any]) -> str:
    if rule["passed"]:
        return "passed"
    if rule.get("left") is None:  # a missing value: the message says what exists
        return f"failed: {rule.get('message', '')}"
    return "failed"


@app.command("request-approval")
@friendly_errors
def request_approval(
    name: NameArgument,
    version: VersionArgument,
    alias: AliasOption,
    comment: Annotated[str, typer.Option(help="Why this version should go out.")] = "",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask for approval to point ALIAS at VERSION."""
    approval = open_client(uri).registry.request_approval(name, version, alias, comment)
    if as_json:
        print_json(approval.to_dict())
        return
    _say(f"requested approval {approval.approval_id} for @{alias} → v{approval.version} of {name}")


@app.command("approve")
@friendly_errors
def approve(
    approval_id: Annotated[str, typer.Argument(help="The approval request's id.")],
    reason: Annotated[str, typer.Option(help="Why it may go out.")] = "",
    uri: UriOption = None,
) -> None:
    """Approve a pending request (under four eyes, not your own)."""
    done = open_client(uri).registry.approve(approval_id, reason)
    _say(f"approved {done.approval_id}: @{done.alias} → v{done.version} of {done.name}")


@app.command("reject")
@friendly_errors
def reject(
    approval_id: Annotated[str, typer.Argument(help="The approval request's id.")],
    reason: Annotated[str, typer.Option(help="Why not (required).")],
    uri: UriOption = None,
) -> None:
    """Reject a pending request, with a reason."""
    done = open_client(uri).registry.reject(approval_id, reason)
    _say(f"rejected {done.approval_id}: @{done.alias} → v{done.version} of {done.name}")


@app.command("approvals")
@friendly_errors
def approvals(
    name: NameArgument,
    version: Annotated[str | None, typer.Argument(help="Only this version.")] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List approval requests of a model (or of one version)."""
    found = open_client(uri).registry.approvals(name, version)
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    _print_approvals(name, found)


def _print_approvals(name: str, found: list[Approval]) -> None:
    _table(
        f"Approvals of {name}",
        ["approval id", "version", "alias", "state", "requested by", "comment", "decided by",
         "reason", "requested"],
        [
            (a.approval_id, a.version, a.alias, a.state.value, a.requested_by, a.comment,
             a.decided_by or "", a.reason, when(a.requested_ms))
            for a in found
        ],
    )  # fmt: skip


@app.command("policy")
@friendly_errors
def policy(
    name: NameArgument,
    alias: Annotated[str, typer.Argument(help="The alias the policy protects.")],
    require_approval: Annotated[
        bool, typer.Option("--require-approval", help="Moving it needs an approval.")
    ] = False,
    four_eyes: Annotated[
        bool, typer.Option("--four-eyes", help="The approver may not be the requester.")
    ] = False,
    gate: Annotated[
        list[str] | None,
        typer.Option("--gate", help='A rule, e.g. "roc_auc >= baseline.roc_auc" (repeatable).'),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the policy.")] = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show ALIAS's policy, or set the whole policy from the options (--clear removes it)."""
    registry = open_client(uri).registry
    if clear:
        if require_approval or four_eyes or gate:
            raise InvalidParameter("--clear takes no other policy option")
        registry.delete_alias_policy(name, alias)
        _say(f"removed the policy of @{alias} of {name}")
        return
    found: AliasPolicy | None
    if require_approval or four_eyes or gate:
        found = registry.set_alias_policy(
            name, alias, require_approval=require_approval, four_eyes=four_eyes, gates=gate or []
        )
    else:
        found = next((p for p in registry.alias_policies(name) if p.alias == alias), None)
    if as_json:
        print_json(found.to_dict() if found else None)
        return
    if found is None:
        _say(f"@{alias} of {name} has no policy: anyone who may edit the model may move it")
        return
    _print_policies(name, [found])


def _print_policies(name: str, found: list[AliasPolicy]) -> None:
    _table(
        f"Alias policies of {name}",
        ["alias", "approval", "four eyes", "gates", "updated by", "updated"],
        [
            (
                p.alias,
                "required" if p.require_approval else "no",
                "yes" if p.four_eyes else "no",
                "; ".join(p.gates),
                p.updated_by,
                when(p.updated_ms),
            )
            for p in found
        ],
    )


@app.command("trust")
@friendly_errors
def trust(
    name: NameArgument,
    version: VersionArgument,
    revoke: Annotated[bool, typer.Option("--revoke", help="Stop trusting it.")] = False,
    uri: UriOption = None,
) -> None:
    """Let a version's code-executing formats (pickle) load, or --revoke that. Admins only."""
    done = open_client(uri).registry.set_trusted(name, version, not revoke)
    state = "trusted" if done.trusted else "not trusted"
    _say(f"v{done.version} of {name} is {state} (manifest {done.manifest_digest or 'none'})")


@app.command("evaluations")
@friendly_errors
def evaluations(
    name: NameArgument, version: VersionArgument, uri: UriOption = None, as_json: JsonOption = False
) -> None:
    """List the evaluations recorded for a version, oldest first (the last one gates read)."""
    found = open_client(uri).registry.evaluations(name, version)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    keys = list(dict.fromkeys(k for e in found for k, v in e.result.items() if _number(v)))[:6]
    _table(
        f"Evaluations of {name} v{version}",
        ["evaluation id", "dataset", "run id", "created by", "created", *keys],
        [
            (e.evaluation_id, e.dataset, e.run_id or "", e.created_by, when(e.created_ms),
             *(_cell(e.result.get(k)) for k in keys))
            for e in found
        ],
    )  # fmt: skip


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@app.command("card")
@friendly_errors
def card(
    name: NameArgument,
    version: VersionArgument,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML page here.")] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown here.")
    ] = None,
    uri: UriOption = None,
) -> None:
    """Write a version's model card: Markdown to stdout, or --html/--markdown files."""
    from loopml.registry.card import model_card

    found = model_card(open_client(uri), name, version)
    if html is None and markdown is None:
        print(found.render_markdown())
        return
    for path, text in ((html, found.render_html), (markdown, found.render_markdown)):
        if path is not None:
            path.write_text(text(), encoding="utf-8")
            _say(f"wrote {path}")
