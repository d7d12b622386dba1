"""WCAG AA contrast of the wallboard's colours, in the dark and the light theme.

The stylesheet names each text colour with its background (`--idle` / `--idle-fg`,
`--text` on `--panel`, …). Both themes (`:root`, and `:root` inside
`@media (prefers-color-scheme: light)`) are read from api/static/wallboard/
wallboard.css and every pair must reach 4.5:1 (normal text, AA). The browser
test (tests/browser/test_wallboard_floor.py) checks the colours as rendered.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "api" / "static" / "wallboard" / "wallboard.css"
STATES = ("idle", "ringing", "in_call", "on_hold", "paused", "wrapup", "unavailable", "unknown")
PAIRS = [(f"{state}-fg", state) for state in STATES] + [
    ("text", "bg"),
    ("text", "panel"),
    ("text", "panel-2"),
    ("muted", "bg"),
    ("muted", "panel"),
    ("muted", "panel-2"),
    ("accent-text", "panel-2"),
    ("accent-text", "chip-bg"),
    ("text", "chip-bg"),
    ("warn-text", "panel-2"),
    ("breach-text", "breach-bg"),
    ("count-text", "panel"),
    ("ok-text", "panel"),
]
AA = 4.5


def themes() -> dict[str, dict[str, str]]:
    """Theme → its custom properties (`--name: #rrggbb`)."""
    css = CSS.read_text(encoding="utf-8")
    light_at = css.index("@media (prefers-color-scheme: light)")
    dark = css[css.index(":root {") : css.index("}", css.index(":root {"))]
    light_block = css[light_at:]
    light = light_block[
        light_block.index(":root {") : light_block.index("}", light_block.index(":root {"))
    ]

    def variables(block: str) -> dict[str, str]:
        return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", block))

    return {"dark": variables(dark), "light": variables(light)}


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(first: str, second: str) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_ratio_is_wcag_s() -> None:
    assert ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_text_colour_meets_aa_on_its_background(theme: str) -> None:
    colours = themes()[theme]
    missing = sorted({name for pair in PAIRS for name in pair} - set(colours))
    assert missing == [], f"{theme} theme lacks"
    low = {
        f"{fg} on {bg}": round(ratio(colours[fg], colours[bg]), 2)
        for fg, bg in PAIRS
        if ratio(colours[fg], colours[bg]) < AA
    }
    assert low == {}


def test_states_are_told_apart_in_both_themes() -> None:
    for theme, colours in themes().items():
        backgrounds = [colours[state].lower() for state in STATES]
        assert len(set(backgrounds)) == len(STATES), theme
