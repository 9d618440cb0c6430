"""Datasets, their immutable versions, movable tags, and references to them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.core.errors import InvalidParameter

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TAG = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,127}$")
LATEST = "latest"


def check_dataset_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidParameter(
            f"invalid dataset name {name!r}: use 1 to 128 letters, digits and . _ - "
            "(starting with a letter or digit)"
        )
    return name


def check_tag(tag: str) -> str:
    if not TAG.fullmatch(tag) or tag == LATEST:
        raise InvalidParameter(
            f"invalid tag {tag!r}: use a letter, then letters, digits and . _ - "
            f"(and not {LATEST!r}, which always means the newest version)"
        )
    return tag


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable snapshot: what it holds, where it came from, who made it."""

    name: str
    version: int
    content_hash: str
    artifact_path: str
    schema: list[dict[str, str]]
    row_count: int
    size_bytes: int
    source_uri: str
    parents: list[str]
    run_id: str | None
    description: str
    created_ms: int
    created_by: str
    validation_status: str | None = None  # "passed"/"failed" by the attached suite; None: never

    @property
    def ref(self) -> str:
        return f"data:{self.name}@{self.version}"

    def checked_valid(self) -> DatasetVersion:
        """This version, unless its attached suite failed it (what pipelines refuse)."""
        if self.validation_status == "failed":
            raise InvalidParameter(
                f"{self.ref} failed validation against its dataset's suite; "
                "fix the data, or validate it again after changing the suite"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "content_hash": self.content_hash,
            "artifact_path": self.artifact_path,
            "schema": self.schema,
            "row_count": self.row_count,
            "size_bytes": self.size_bytes,
            "source_uri": self.source_uri,
            "parents": self.parents,
            "run_id": self.run_id,
            "description": self.description,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "validation_status": self.validation_status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetVersion:
        return cls(**{k: v for k, v in data.items() if k != "ref"})


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    created_ms: int
    created_by: str
    updated_ms: int
    latest_version: int | None
    tags: dict[str, int]
    column_tags: dict[str, list[str]] = field(default_factory=dict)
    suite: dict[str, Any] | None = None  # the attached validation suite, as a dict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dataset:
        return cls(**data)


@dataclass(frozen=True)
class StoredValidation:
    """A validation report kept with a version (``report`` is ``ValidationReport.to_dict()``)."""

    suite_name: str
    success: bool
    report: dict[str, Any]
    created_ms: int = 0
    created_by: str = ""

    @property
    def status(self) -> str:
        return "passed" if self.success else "failed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataRef:
    """``data:NAME@VERSION``, ``@tag`` or ``@latest`` (``@latest`` when no ``@`` is given)."""

    name: str
    selector: str  # a version number, a tag, or "latest"

    @classmethod
    def parse(cls, text: str) -> DataRef:
        body = text.removeprefix("data:")
        name, _, selector = body.partition("@")
        check_dataset_name(name)
        selector = selector or LATEST
        if not (selector.isdigit() or selector == LATEST or TAG.fullmatch(selector)):
            raise InvalidParameter(
                f"invalid dataset reference {text!r}: expected data:NAME@VERSION, "
                "data:NAME@TAG or data:NAME@latest"
            )
        return cls(name, selector)

    def __str__(self) -> str:
        return f"data:{self.name}@{self.selector}"
