"""Reading a Streamlit page in the browser tests: the visible text (code spans apart),
table headers, a metric tile by its label, a shown figure as a number, what breaks the
pages' rules, and screenshots of what fits and of the whole page."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

ARTIFACTS: Path = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: lowercase words joined by underscores: a column or field name shown raw
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]*[a-z0-9]\b")
#: snake_case a page may show on purpose (none yet: add with a reason)
SNAKE_ALLOWED: frozenset[str] = frozenset()
NAN = re.compile(r"\bnan\b", re.IGNORECASE)
ERROR_TEXT = re.compile(r"Traceback|MessageSizeError|StreamlitAPIException|\bError\b")


_VISIBLE_TEXT = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('code, pre, textarea, script, style, [data-testid="stCode"]')) continue;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    out.push(n.textContent);
  }
  return out.join(' ');
}"""


def visible_text(page: Any) -> str:
    """The text a viewer sees, without code spans (SQL names there are meant as such)."""
    return str(page.evaluate(_VISIBLE_TEXT))


def table_headers(page: Any) -> list[str]:
    """Column headers of every dataframe (the grid's accessible table) and static table."""
    loc = page.locator('[role="columnheader"], [data-testid="stTable"] th')
    return [t.strip() for t in loc.all_inner_texts() if t.strip()]


def tile(page: Any, label: str) -> str | None:
    """The value of the metric tile whose label is ``label`` (any case), wherever it sits."""
    for m in page.locator('[data-testid="stMetric"]').all():
        got = m.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        if got.lower() == label.lower():
            return str(m.locator('[data-testid="stMetricValue"]').inner_text().strip())
    return None


_FIGURE = re.compile(r"([-+]?[\d,]*\.?\d+)\s*(k|M|G|%)?")


def parse_figure(text: str) -> tuple[float, float]:
    """(value, half of the last shown digit) of '7,912', '7.9 k', '0.62 %' (as 0.0062)."""
    m = _FIGURE.fullmatch(text.replace("\u202f", " ").strip())
    if m is None:
        raise ValueError(f"not a figure: {text!r}")
    digits, unit = m.group(1).replace(",", ""), m.group(2)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    scale = {None: 1.0, "%": 0.01, "k": 1e3, "M": 1e6, "G": 1e9}[unit]
    return float(digits) * scale, 0.5 * 10.0**-decimals * scale


def figure_problems(page: Any, expected: dict[str, float]) -> list[str]:
    out = []
    for label, want in expected.items():
        shown = tile(page, label)
        if shown is None:
            out.append(f"no tile labelled {label!r}")
            continue
        try:
            value, tol = parse_figure(shown)
        except ValueError as e:
            out.append(f"tile {label!r}: {e}")
            continue
        if abs(value - want) > tol + 1e-12:
            out.append(f"tile {label!r} shows {shown!r}, the source data says {want:.6g}")
    return out


def page_problems(page: Any) -> list[str]:
    """Every rule the pages must keep, as a list of what is wrong (empty: all kept)."""
    out = []
    if page.locator('[data-testid="stException"]').count():
        out.append("a Streamlit exception box")
    text = visible_text(page)
    headers = table_headers(page)
    for what, found in (
        ("error text", ERROR_TEXT.findall(text)),
        ("nan", NAN.findall(text)),
        ("nan in a header", [h for h in headers if NAN.search(h)]),
    ):
        if found:
            out.append(f"{what}: {sorted(set(found))[:8]}")
    snake = {w for w in SNAKE.findall(text + " " + " ".join(headers)) if w not in SNAKE_ALLOWED}
    if snake:
        out.append(f"raw snake_case names: {sorted(snake)[:12]}")
    for testid in ("stAppDeployButton", "stMainMenu"):
        if page.locator(f'[data-testid="{testid}"]').count():
            out.append(f"{testid} is shown")
    return out


_SCROLL_HEIGHT = """() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll(
  '[data-testid="stMain"], [data-testid="stAppViewContainer"], [data-testid="stSidebarContent"]'
)].map(e => e.scrollHeight))"""


def shoot(page: Any, name: str, size: tuple[int, int], state: str) -> None:
    """``<name>-<w>x<h>-<state>.png``: what fits without scrolling; ``...-full.png``: the
    whole page (Streamlit scrolls inside its main block, so the viewport grows to it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    stem = f"{name}-{size[0]}x{size[1]}-{state}"
    page.screenshot(path=str(ARTIFACTS / f"{stem}.png"))
    assert (ARTIFACTS / f"{stem}.png").stat().st_size > 5_000
    height = min(int(page.evaluate(_SCROLL_HEIGHT)), 10_000)
    if height > size[1]:
        page.set_viewport_size({"width": size[0], "height": height})
        time.sleep(3.0)  # charts and live fragments redraw at the new size
    page.screenshot(path=str(ARTIFACTS / f"{stem}-full.png"))
    page.set_viewport_size({"width": size[0], "height": size[1]})


def open_page(browser: Any, url: str, size: tuple[int, int]) -> Any:
    pg = browser.new_page(viewport={"width": size[0], "height": size[1]})
    pg.goto(url)
    pg.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
    time.sleep(2.0)  # charts and the tables' grids draw after the tiles
    return pg


def wait_for_queries(pg: Any, timeout_s: float) -> None:
    """Until the page's Queries tile counts some (each page materializes on its own: the
    expert, which stores every topic, trails the aggregate); no tile: no wait."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = tile(pg, "Queries")
        try:
            if shown is None or parse_figure(shown)[0] > 0:
                break
        except ValueError:
            break
        time.sleep(2.0)
    time.sleep(1.0)


def run_sql(pg: Any, sql: str) -> None:
    box = pg.get_by_role("textbox", name="SQL", exact=True)
    box.fill(sql)
    box.press("Control+Enter")  # the text area's value reaches the server before Run
    time.sleep(0.5)
    pg.get_by_role("button", name="Run", exact=True).click()


def metric(page: Any, label: str) -> str:
    value = tile(page, label)
    assert value is not None, f"no tile {label!r}"
    return value


def no_exception(page: Any) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.content()


def chromium_or_skip() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but no chromium: .ci/run must install it")
    pytest.skip("no chromium on this machine (install Debian's chromium)")
