"""MLflow's search grammar for runs, experiments and logged models, parsed into a small AST.

A filter is comparisons joined by ``AND`` (MLflow has no ``OR``), such as
``metrics.acc > 0.9 AND params.lr = '0.01' AND tags.`mlflow.runName` LIKE 'cv-%'``.
The parser is a small hand-written scanner rather than a SQL tokenizer, so that it
accepts exactly this grammar and every mistake becomes an ``InvalidParameter``
that quotes the filter and the spot where reading stopped. No SQL here:
``loopml.tracking._sql_search`` compiles the AST.

Each search has its own grammar (``_RUN``, ``_EXPERIMENT``, ``_LOGGED_MODEL``):
which prefixes name which kind of field, which attribute keys exist, and for each
field the operators it allows and whether its values are numbers or strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from loopml.core.errors import InvalidParameter

Kind: TypeAlias = Literal["metric", "param", "tag", "attribute", "dataset"]
SearchEntity: TypeAlias = Literal[
    "run", "experiment", "logged_model", "registered_model", "model_version"
]
Value: TypeAlias = str | float | tuple[str, ...] | None

NUMERIC_OPS = frozenset({"=", "!=", ">", ">=", "<", "<="})
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})

_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Comparison:
    """One ``<field> <op> <value>``; ``value`` is a float for metrics, an int for
    integral numeric attributes, a tuple for ``IN``, None for ``IS [NOT] NULL``."""

    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderClause:
    """One ORDER BY term; the dataset fields only narrow logged-model metrics."""

    kind: Kind
    key: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class _Field:
    numeric: bool
    ops: frozenset[str]
    integer_only: bool = False


_METRIC = _Field(numeric=True, ops=NUMERIC_OPS)
_NUMBER = _Field(numeric=True, ops=NUMERIC_OPS)
_STRING = _Field(numeric=False, ops=STRING_OPS)
_STRING_OR_LIST = _Field(numeric=False, ops=STRING_OPS | LIST_OPS)
_STRING_OR_NULL = _Field(numeric=False, ops=STRING_OPS | NULL_OPS)


@dataclass(frozen=True)
class _Grammar:
    """What one search accepts; ``"*"`` stands for any key of a kind."""

    name: str
    prefixes: Mapping[str, Kind]
    fields: Mapping[tuple[Kind, str], _Field]
    orderable: frozenset[Kind]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def field_for(self, kind: Kind, key: str) -> _Field | None:
        return self.fields.get((kind, key)) or self.fields.get((kind, "*"))

    def keys_of(self, kind: Kind) -> list[str]:
        return sorted(k for (c, k) in self.fields if c == kind)


_SINGULAR_PREFIXES: dict[str, Kind] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
}

_RUN = _Grammar(
    name="run",
    prefixes={
        **_SINGULAR_PREFIXES,
        "run": "attribute",
        "dataset": "dataset",
        "datasets": "dataset",
    },
    fields={
        ("metric", "*"): _METRIC,
        ("param", "*"): _STRING_OR_NULL,
        ("tag", "*"): _STRING_OR_NULL,
        ("attribute", "run_id"): _STRING_OR_LIST,
        ("attribute", "run_name"): _STRING,
        ("attribute", "status"): _STRING,
        ("attribute", "user_id"): _STRING,
        ("attribute", "artifact_uri"): _STRING,
        ("attribute", "start_time"): _NUMBER,
        ("attribute", "end_time"): _NUMBER,
        ("dataset", "name"): _STRING_OR_LIST,
        ("dataset", "digest"): _STRING_OR_LIST,
        ("dataset", "context"): _STRING_OR_LIST,
    },
    orderable=frozenset({"metric", "param", "tag", "attribute"}),
    aliases={
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
    },
)

_EXPERIMENT = _Grammar(
    name="experiment",
    prefixes={"attribute": "attribute", "attributes": "attribute", "tag": "tag", "tags": "tag"},
    fields={
        ("attribute", "name"): _STRING,
        ("attribute", "experiment_id"): _Field(
            numeric=False, ops=frozenset({"=", "!="}) | LIST_OPS
        ),
        ("attribute", "creation_time"): _Field(numeric=True, ops=NUMERIC_OPS, integer_only=True),
        ("attribute", "last_update_time"): _Field(numeric=True, ops=NUMERIC_OPS, integer_only=True),
        ("tag", "*"): _STRING_OR_NULL,
    },
    orderable=frozenset({"attribute"}),
)

_LOGGED_MODEL = _Grammar(
    name="logged model",
    prefixes=_SINGULAR_PREFIXES,
    fields={
        ("metric", "*"): _METRIC,
        ("param", "*"): _STRING_OR_LIST,
        ("tag", "*"): _STRING_OR_LIST,
        ("attribute", "name"): _STRING_OR_LIST,
        ("attribute", "model_id"): _STRING_OR_LIST,
        ("attribute", "model_type"): _STRING_OR_LIST,
        ("attribute", "status"): _STRING_OR_LIST,
        ("attribute", "source_run_id"): _STRING_OR_LIST,
        ("attribute", "creation_timestamp"): _NUMBER,
        ("attribute", "last_updated_timestamp"): _NUMBER,
    },
    orderable=frozenset({"metric", "attribute"}),
    aliases={"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"},
)

_TIMESTAMP = _Field(numeric=True, ops=NUMERIC_OPS, integer_only=True)

_REGISTERED_MODEL = _Grammar(
    name="registered model",
    prefixes={"attribute": "attribute", "attributes": "attribute", "tag": "tag", "tags": "tag"},
    fields={
        ("attribute", "name"): _STRING,
        ("attribute", "creation_timestamp"): _TIMESTAMP,
        ("attribute", "last_updated_timestamp"): _TIMESTAMP,
        ("tag", "*"): _STRING_OR_NULL,
    },
    orderable=frozenset({"attribute"}),
    aliases={"timestamp": "creation_timestamp", "last_updated_time": "last_updated_timestamp"},
)

_MODEL_VERSION = _Grammar(
    name="model version",
    prefixes={"attribute": "attribute", "attributes": "attribute", "tag": "tag", "tags": "tag"},
    fields={
        ("attribute", "name"): _STRING_OR_LIST,
        ("attribute", "version_number"): _Field(numeric=True, ops=NUMERIC_OPS, integer_only=True),
        ("attribute", "run_id"): _STRING_OR_LIST,
        ("attribute", "source_path"): _STRING,
        ("attribute", "model_id"): _STRING_OR_LIST,
        ("attribute", "current_stage"): _STRING_OR_LIST,
        ("attribute", "user_id"): _STRING,
        ("attribute", "creation_timestamp"): _TIMESTAMP,
        ("attribute", "last_updated_timestamp"): _TIMESTAMP,
        ("tag", "*"): _STRING_OR_NULL,
    },
    orderable=frozenset({"attribute"}),
    aliases={
        "version": "version_number",
        "source": "source_path",
        "timestamp": "creation_timestamp",
        "last_updated_time": "last_updated_timestamp",
    },
)

_GRAMMARS: dict[str, _Grammar] = {
    "run": _RUN,
    "experiment": _EXPERIMENT,
    "logged_model": _LOGGED_MODEL,
    "registered_model": _REGISTERED_MODEL,
    "model_version": _MODEL_VERSION,
}

_PREFIX_RE = re.compile(r"([A-Za-z_]\w*)\.")
_QUOTED_KEY_RE = re.compile(r"`([^`]*)`|\"([^\"]*)\"")
_BARE_KEY_RE = re.compile(r"[\w.]+")
_BARE_ATTRIBUTE_RE = re.compile(r"[A-Za-z_]\w*")
_SYMBOL_OP_RE = re.compile(r"[!<>=]+")
_WORD_OP_RE = re.compile(r"(IS\s+NOT\s+NULL|IS\s+NULL|NOT\s+IN|IN|LIKE|ILIKE)(?!\w)", re.IGNORECASE)
_STRING_RE = re.compile(r"'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\"")
# Atomic groups keep a long run of digits from backtracking quadratically.
_NUMBER_RE = re.compile(r"[+-]?(?>\d+(?:\.\d*)?|\.\d+)(?>[eE][+-]?\d+)?(?![\w.])")
_INTEGER_RE = re.compile(r"[+-]?\d+")
_AND_RE = re.compile(r"AND(?!\w)", re.IGNORECASE)
_OR_RE = re.compile(r"OR(?!\w)", re.IGNORECASE)
_DIRECTION_RE = re.compile(r"(ASC|DESC)(?!\w)", re.IGNORECASE)


class _Scanner:
    """A cursor over the text; ``fail`` names the text and where reading stopped."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0

    def take(self, pattern: re.Pattern[str], *, skip_space: bool = True) -> re.Match[str] | None:
        if skip_space:
            self.skip_space()
        found = pattern.match(self.text, self.pos)
        if found:
            self.pos = found.end()
        return found

    def take_char(self, char: str) -> bool:
        self.skip_space()
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def fail(self, expected: str) -> InvalidParameter:
        rest = self.text[self.pos : self.pos + 30]
        where = f"at {rest!r}" if rest else "at the end"
        return self.error(f"expected {expected} {where}")

    def error(self, reason: str) -> InvalidParameter:
        shown = self.text if len(self.text) <= 300 else self.text[:300] + "..."
        return InvalidParameter(f"Invalid {self.what} {shown!r}: {reason}")


@dataclass(frozen=True)
class _Identifier:
    kind: Kind
    key: str
    text: str


def parse_run_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``search_runs`` filter; None or blank means no filter.

    Raises:
        InvalidParameter: the filter breaks the grammar; the message quotes it.
    """
    return _parse_filter(filter_string, _RUN)


def parse_experiment_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``search_experiments`` filter (``name``, ``creation_time``, ``tags.x`` ...)."""
    return _parse_filter(filter_string, _EXPERIMENT)


def parse_logged_model_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``search_logged_models`` filter: attributes, metrics, params and tags."""
    return _parse_filter(filter_string, _LOGGED_MODEL)


def parse_registered_model_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``search_registered_models`` filter: ``name`` and ``tags.<key>``."""
    return _parse_filter(filter_string, _REGISTERED_MODEL)


def parse_model_version_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``search_model_versions`` filter (``name``, ``run_id``, ``version_number`` ...)."""
    return _parse_filter(filter_string, _MODEL_VERSION)


def parse_order_by(
    order_by: Sequence[str] | None, entity: SearchEntity = "run"
) -> list[OrderClause]:
    """Parse ORDER BY strings such as ``metrics.acc DESC`` or ``start_time``; ASC by default.

    Raises:
        InvalidParameter: a clause is malformed, names a field that cannot be
            ordered on, or repeats a field.
    """
    if isinstance(order_by, str):
        raise InvalidParameter(f"Invalid order_by {order_by!r}: expected a list of clauses")
    grammar = _GRAMMARS[entity]
    clauses = [_parse_order_clause(text, grammar) for text in order_by or ()]
    _reject_duplicates(clauses)
    return clauses


def parse_logged_model_order_by(
    order_by: Sequence[Mapping[str, object]] | None,
) -> list[OrderClause]:
    """Parse ``search_logged_models`` ordering, which MLflow sends as dicts such as
    ``{"field_name": "metrics.acc", "ascending": False, "dataset_name": "eval"}``.
    """
    clauses = [_parse_order_mapping(item) for item in order_by or ()]
    _reject_duplicates(clauses)
    return clauses


def encode_page_token(offset: int) -> str:
    """The opaque token for the page starting at ``offset`` (MLflow's own format)."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """The offset a page token stands for; None or empty means the first page.

    Raises:
        InvalidParameter: the token was not made by ``encode_page_token``.
    """
    if not token:
        return 0
    try:
        payload = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        payload = None
    offset = payload.get("offset") if isinstance(payload, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= _INT64_MAX:
        raise InvalidParameter(f"invalid page_token {token[:100]!r}")
    return offset


def _parse_filter(filter_string: str | None, grammar: _Grammar) -> list[Comparison]:
    if filter_string is None or not filter_string.strip():
        return []
    scanner = _Scanner(filter_string, f"{grammar.name} filter")
    comparisons = [_parse_comparison(scanner, grammar)]
    while not scanner.at_end():
        if scanner.take(_OR_RE):
            raise scanner.error("OR is not supported; join comparisons with AND")
        if not scanner.take(_AND_RE):
            raise scanner.fail("AND or the end of the filter")
        comparisons.append(_parse_comparison(scanner, grammar))
    return comparisons


def _parse_comparison(scanner: _Scanner, grammar: _Grammar) -> Comparison:
    ident = _parse_identifier(scanner, grammar)
    spec = _field_spec(scanner, grammar, ident)
    op = _parse_operator(scanner)
    if op not in spec.ops:
        allowed = ", ".join(sorted(spec.ops))
        raise scanner.error(
            f"operator {op!r} is not allowed on {ident.text!r}; use one of {allowed}"
        )
    if op in NULL_OPS:
        return Comparison(ident.kind, ident.key, op, None)
    value = _parse_list(scanner) if op in LIST_OPS else _parse_scalar(scanner, spec, ident)
    if ident.kind == "attribute" and ident.key == "experiment_id":
        _check_experiment_ids(scanner, value)
    return Comparison(ident.kind, ident.key, op, value)


def _parse_identifier(scanner: _Scanner, grammar: _Grammar) -> _Identifier:
    start = scanner.pos
    prefix = scanner.take(_PREFIX_RE)
    adjacent = prefix is None  # a prefixed key follows its dot with no space
    key_match = scanner.take(_QUOTED_KEY_RE, skip_space=adjacent) or scanner.take(
        _BARE_KEY_RE if prefix else _BARE_ATTRIBUTE_RE, skip_space=adjacent
    )
    if key_match is None:
        raise scanner.fail("a field name such as metrics.<key>, params.<key> or tags.<key>")
    text = scanner.text[start : scanner.pos].strip()
    key = next((g for g in key_match.groups() if g is not None), key_match.group(0))
    if prefix is None:
        return _Identifier("attribute", grammar.aliases.get(key, key), text)
    kind = grammar.prefixes.get(prefix.group(1))
    if kind is None:
        valid = ", ".join(sorted(grammar.prefixes))
        raise scanner.error(f"unknown prefix {prefix.group(1)!r} in {text!r}; use one of {valid}")
    if kind == "attribute":
        key = grammar.aliases.get(key, key)
    return _Identifier(kind, key, text)


def _field_spec(scanner: _Scanner, grammar: _Grammar, ident: _Identifier) -> _Field:
    spec = grammar.field_for(ident.kind, ident.key)
    if spec is None:
        valid = ", ".join(grammar.keys_of(ident.kind))
        raise scanner.error(
            f"unknown {ident.kind} {ident.key!r} in {ident.text!r}; use one of {valid}"
        )
    return spec


def _parse_operator(scanner: _Scanner) -> str:
    word = scanner.take(_WORD_OP_RE)
    if word:
        return " ".join(word.group(1).upper().split())
    symbol = scanner.take(_SYMBOL_OP_RE)
    if symbol is None:
        raise scanner.fail("a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, ...)")
    return symbol.group(0)


def _parse_scalar(scanner: _Scanner, spec: _Field, ident: _Identifier) -> str | float:
    scanner.skip_space()
    start = scanner.pos
    if not spec.numeric:
        text = _take_string(scanner)
        if text is None:
            raise scanner.fail(f"a quoted string value for {ident.text!r}")
        return text
    number = scanner.take(_NUMBER_RE)
    if number is None:
        raise scanner.fail(f"a number for {ident.text!r}")
    literal = number.group(0)
    if ident.kind == "metric":
        return float(literal)
    if _INTEGER_RE.fullmatch(literal) is None:
        if spec.integer_only:
            raise scanner.error(f"{ident.text!r} needs an integer, got {literal!r}")
        return float(literal)
    return _parse_int(scanner, literal, start)


def _parse_int(scanner: _Scanner, literal: str, start: int) -> int:
    value = int(literal) if len(literal) <= 20 else _INT64_MAX + 1
    if abs(value) > _INT64_MAX:
        scanner.pos = start
        raise scanner.fail("an integer within 64 bits")
    return value


def _take_string(scanner: _Scanner) -> str | None:
    found = scanner.take(_STRING_RE)
    if found is None:
        return None
    if found.group(1) is not None:
        return found.group(1).replace("''", "'")
    return found.group(2).replace('""', '"')


def _parse_list(scanner: _Scanner) -> tuple[str, ...]:
    if not scanner.take_char("("):
        raise scanner.fail("a parenthesised list of quoted strings, such as ('a', 'b')")
    items: list[str] = []
    while True:
        item = _take_string(scanner)
        if item is None:
            raise scanner.fail("a quoted string in the list")
        items.append(item)
        if scanner.take_char(")"):
            return tuple(items)
        if not scanner.take_char(","):
            raise scanner.fail("',' or ')' in the list")


def _check_experiment_ids(scanner: _Scanner, value: Value) -> None:
    ids = value if isinstance(value, tuple) else (value,)
    for item in ids:
        if not isinstance(item, str) or not item.isascii() or not item.isdigit():
            raise scanner.error(f"experiment_id must be a quoted integer, got {item!r}")
        if len(item) > 19 or int(item) > _INT64_MAX:
            raise scanner.error(f"experiment_id {item!r} is out of range")


def _parse_order_clause(text: object, grammar: _Grammar) -> OrderClause:
    if not isinstance(text, str):
        raise InvalidParameter(f"Invalid order_by clause {text!r}: expected a string")
    scanner = _Scanner(text, f"{grammar.name} order_by clause")
    ident = _parse_identifier(scanner, grammar)
    _check_orderable(scanner, grammar, ident)
    direction = scanner.take(_DIRECTION_RE)
    if not scanner.at_end():
        raise scanner.fail("ASC, DESC or the end of the clause")
    ascending = direction is None or direction.group(1).upper() == "ASC"
    return OrderClause(ident.kind, ident.key, ascending)


def _check_orderable(scanner: _Scanner, grammar: _Grammar, ident: _Identifier) -> None:
    if ident.kind not in grammar.orderable:
        kinds = ", ".join(sorted(grammar.orderable))
        raise scanner.error(f"cannot order {grammar.name}s by {ident.text!r}; order by {kinds}")
    _field_spec(scanner, grammar, ident)


def _parse_order_mapping(item: Mapping[str, object]) -> OrderClause:
    if not isinstance(item, Mapping):
        raise InvalidParameter(f"Invalid order_by {item!r}: expected an object with field_name")
    field_name = item.get("field_name")
    if not isinstance(field_name, str):
        raise InvalidParameter(f"Invalid order_by {item!r}: field_name must be a string")
    scanner = _Scanner(field_name, "logged model order_by field_name")
    ident = _parse_identifier(scanner, _LOGGED_MODEL)
    if not scanner.at_end():
        raise scanner.fail("the end of the field name")
    _check_orderable(scanner, _LOGGED_MODEL, ident)
    ascending = item.get("ascending", True)
    if not isinstance(ascending, bool):
        raise InvalidParameter(f"Invalid order_by {item!r}: ascending must be true or false")
    name, digest = item.get("dataset_name"), item.get("dataset_digest")
    if not isinstance(name, str | None) or not isinstance(digest, str | None):
        raise InvalidParameter(f"Invalid order_by {item!r}: dataset fields must be strings")
    if digest and not name:
        raise InvalidParameter(f"Invalid order_by {item!r}: dataset_digest needs dataset_name")
    return OrderClause(ident.kind, ident.key, ascending, name or None, digest or None)


def _reject_duplicates(clauses: Sequence[OrderClause]) -> None:
    seen: set[tuple[str, str]] = set()
    for clause in clauses:
        if (clause.kind, clause.key) in seen:
            raise InvalidParameter(f"Invalid order_by: {clause.kind} {clause.key!r} appears twice")
        seen.add((clause.kind, clause.key))
