"""The deskkit house look: the Altair theme (registered here, enabled by the dashboard) and
the number texts (money, signed counts, percents) that charts and cards share.

Builders never name colours; they encode a semantic field (``kind``) and the theme's category
range decides how it looks, so one edit here restyles every chart.
"""

from __future__ import annotations

import math

import altair as alt

__all__ = ["MINUS", "PALETTE", "THEME", "count", "money", "percent", "signed"]

THEME = "deskkit"

#: Semantic colours, in the order builders list their category domains.
PALETTE: dict[str, str] = {
    "open": "#4C78A8",
    "won": "#2E9E5B",
    "lost": "#D1495B",
    "muted": "#8A94A6",
    "text": "#243042",
    "grid": "#E6E9EF",
}

_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


@alt.theme.register(THEME, enable=False)
def deskkit_theme() -> alt.theme.ThemeConfig:
    """Quiet axes, no chart border, the deskkit palette and the page's system font."""
    return {
        "config": {
            "font": _FONT,
            "view": {"stroke": None, "continuousWidth": 420, "continuousHeight": 240},
            "background": "transparent",
            "range": {
                "category": [PALETTE["open"], PALETTE["won"], PALETTE["lost"], PALETTE["muted"]],
            },
            "axis": {
                "labelColor": PALETTE["text"],
                "titleColor": PALETTE["text"],
                "labelFontSize": 12,
                "titleFontSize": 12,
                "titleFontWeight": "normal",
                "gridColor": PALETTE["grid"],
                "domain": False,
                "ticks": False,
            },
            "text": {"color": PALETTE["text"], "fontSize": 12},
            "bar": {"cornerRadiusEnd": 3},
            "legend": {"disable": True},
            # Named mark styles: builders say what a mark is ("dk-value", "dk-note"), not its look.
            "style": {
                "dk-value": {"font": _FONT, "color": PALETTE["text"], "fontSize": 12},
                "dk-note": {
                    "font": _FONT,
                    "color": PALETTE["muted"],
                    "fontSize": 11,
                    "fontStyle": "italic",
                },
            },
            "title": {"color": PALETTE["text"], "fontSize": 13, "anchor": "start"},
        }
    }


# Number texts ----------------------------------------------------------------------------------

_SYMBOLS = {"RUB": "₽", "USD": "$", "EUR": "€", "GBP": "£", "KZT": "₸", "UAH": "₴", "BYN": "Br"}
_PREFIXED = {"USD", "GBP"}
MINUS = "\u2212"  # a real minus sign: a hyphen looks like a dash next to digits


def money(value: float, currency: str = "") -> str:
    """``1234567.8, "RUB"`` → ``"1,234,568 ₽"``; ``"USD"`` → ``"$1,234,568"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    code = (currency or "").upper()
    text = f"{abs(value):,.0f}"
    sign = MINUS if round(value) < 0 else ""
    symbol = _SYMBOLS.get(code, code)
    if not symbol:
        return sign + text
    if code in _PREFIXED:
        return f"{sign}{symbol}{text}"
    return f"{sign}{text} {symbol}"


def count(value: int) -> str:
    """An integer with thousands separators."""
    return f"{int(value):,}"


def signed(value: int) -> str:
    """``3`` → ``"+3"``, ``-2`` → ``"−2"``, ``0`` → ``"0"``."""
    value = int(value)
    if value > 0:
        return f"+{value:,}"
    if value < 0:
        return f"{MINUS}{-value:,}"
    return "0"


def percent(value: float) -> str:
    """A share as ``"45%"``; NaN (no base) as ``"—"``."""
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.0%}"
