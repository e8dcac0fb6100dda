"""dashboards.units: every figure in a human unit, unknowns never shown as 0 or NaN."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboards.units import (
    UNKNOWN,
    change,
    compact_count,
    count,
    data_size,
    delta_arrow,
    delta_color,
    duration,
    relative_change,
    share,
)


@pytest.mark.parametrize(
    ("ms", "text"),
    [(850, "850 ms"), (4_200, "4.2 s"), (210_000, "3.5 min"), (7_560_000, "2.1 h"),
     (2 * 86_400_000, "2.0 d")],
)  # fmt: skip
def test_duration_picks_the_largest_unit_below_the_value(ms: float, text: str) -> None:
    assert duration(ms) == text


@pytest.mark.parametrize(
    ("mb", "text"),
    [(512, "512 MB"), (3.2 * 1024, "3.2 GB"), (132_785 * 1024, "129.7 TB")],
)
def test_data_size_in_mb_gb_tb(mb: float, text: str) -> None:
    assert data_size(mb) == text


@pytest.mark.parametrize("x", [None, float("nan"), "x", math.inf, float("-inf")])
def test_unknown_values_read_na_everywhere(x: object) -> None:
    for f in (count, compact_count, share, duration, data_size):
        assert f(x) == UNKNOWN


def test_shares_and_counts() -> None:
    assert share(0.0006) == "0.1 %"
    assert share(0.25, 0) == "25 %"
    assert count(12345.4) == "12,345"
    assert compact_count(8_244_000) == "8.2 M"


def test_change_has_no_sign_when_nothing_moved() -> None:
    assert change(5, 5, duration) == "no change"
    assert change(6_000, 5_000, duration) == "+1.0 s"
    assert change(5_000, 6_000, duration) == "-1.0 s"
    assert change(None, 5, duration) is None
    assert relative_change(110, 100) == "+10.0 %"
    assert relative_change(1, 0) is None


def test_delta_colour_follows_the_metric_meaning() -> None:
    assert delta_color(True, "+1 %") == "normal"  # cache hits up: green
    assert delta_color(False, "+1 s") == "inverse"  # latency up: red
    assert delta_color(False, "no change") == "off"
    assert delta_color(None, "+5") == "off"
    assert delta_arrow("no change") == "off" and delta_arrow("+5") == "auto"


@given(st.floats(min_value=0, max_value=1e15, allow_nan=False))
def test_duration_never_shows_a_bare_number(ms: float) -> None:
    assert duration(ms).split()[-1] in {"ms", "s", "min", "h", "d"}
