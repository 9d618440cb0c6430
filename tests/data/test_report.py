"""The profile page is self-contained, escapes everything from the data, and runs no script."""

from __future__ import annotations

import html
import math
from html.parser import HTMLParser

import pyarrow as pa

from loopml.data.profile import ColumnProfile, Histogram, Profile, profile_table
from loopml.data.report import render_profile_html

SCRIPT_NAME = "<script>alert(1)</script>"


def _table() -> pa.Table:
    return pa.table(
        {
            "amount": [1.5, 2.0, 7.25, None, math.inf],
            "count": [1, 2, 3, 4, 5],
            SCRIPT_NAME: ["<b>bold</b>", "<b>bold</b>", "plain", None, "x"],
            "flag": [True, False, True, True, None],
            "nested": pa.array([[1], [2], None, [3], [4]]),
        }
    )


class _Tags(HTMLParser):
    """Every start tag and every attribute name the page uses."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.update(name for name, _ in attrs)


def _tags(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_the_page_shows_the_summary_and_every_column() -> None:
    profile = profile_table(_table())
    page = render_profile_html(profile, "orders v3")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>orders v3</title>" in page
    assert "5 rows" in page
    assert "5 columns" in page
    for column in profile.columns:
        assert html.escape(column.name) in page


def test_one_histogram_per_numeric_column() -> None:
    profile = profile_table(_table())
    page = render_profile_html(profile, "t")
    numeric = [c for c in profile.columns if c.kind == "numeric"]
    assert len(numeric) == 2
    assert page.count("<svg") == len(numeric)


def test_names_and_values_from_the_data_are_escaped() -> None:
    page = render_profile_html(profile_table(_table()), "<i>title</i>")
    assert SCRIPT_NAME not in page
    assert html.escape(SCRIPT_NAME) in page
    assert "<b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<i>" not in page


def test_the_page_needs_nothing_a_strict_csp_blocks() -> None:
    page = render_profile_html(profile_table(_table()), "t")
    parsed = _tags(page)
    assert "<script" not in page.lower()
    assert not {"script", "link", "img", "iframe", "object", "form"} & set(parsed.tags)
    assert parsed.tags.count("style") == 1
    assert not any(name.startswith("on") for name in parsed.attributes)
    assert "url(" not in page
    assert "@import" not in page


def test_histogram_axis_shows_the_outer_edges() -> None:
    column = ColumnProfile(
        name="v",
        type="double",
        kind="numeric",
        count=6,
        missing=0,
        distinct=6,
        min=0.5,
        max=12_500.0,
        histogram=Histogram(edges=[0.5, 6_250.25, 12_500.0], counts=[4, 2]),
    )
    page = render_profile_html(Profile(row_count=6, columns=[column]), "t")
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert ">0.5</text>" in svg
    assert ">12,500</text>" in svg
    assert svg.count('class="bin"') == 2


def test_top_values_are_bars_sized_by_share() -> None:
    column = ColumnProfile(
        name="s",
        type="string",
        kind="categorical",
        count=4,
        missing=0,
        distinct=2,
        top_values=[("a", 3), ("b", 1)],
    )
    page = render_profile_html(Profile(row_count=4, columns=[column]), "t")
    assert 'style="width:75.0%"' in page
    assert 'style="width:25.0%"' in page


def test_an_empty_profile_renders() -> None:
    page = render_profile_html(profile_table(_table().slice(0, 0)), "empty")
    assert "0 rows" in page
    assert "<svg" not in page


def test_an_infinite_maximum_renders_as_the_infinity_sign() -> None:
    page = render_profile_html(profile_table(_table()), "t")
    assert '<th>max</th><td class="num">&infin;</td>' in page
