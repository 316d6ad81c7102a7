"""SVG geometry for the demand chart and the map, as plain data the templates draw."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

PALETTE = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8d6a9f",
           "#c05746", "#3d5a80", "#7a9e1f")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass
class Segment:
    group: str  # what the bar is stacked by: a village, or a day
    quantity: Decimal
    x: float
    width: float
    color: str


@dataclass
class Bar:
    name: str
    unit: str
    total: Decimal
    y: float
    segments: list[Segment] = field(default_factory=list)


@dataclass
class BarChart:
    bars: list[Bar]
    legend: list[tuple[str, str]]
    width: int
    height: int
    label_width: int
    bar_height: int
    # (y, unit) of each unit's heading: bars are grouped by unit, and lengths compare only
    # within a group (each unit has its own scale).
    unit_headings: list[tuple[float, str]] = field(default_factory=list)


def bar_chart(totals: dict[tuple[str, str, str], dict[str, Decimal]], *, width: int = 760,
              label_width: int = 170, bar_height: int = 30, gap: int = 10) -> BarChart:
    """Horizontal bars, one per (sku, name, unit), stacked by the inner keys (villages or
    days), longest first.

    Quantities in different units are not comparable, so each bar is scaled against the largest
    bar of its own unit."""
    villages = sorted({v for per in totals.values() for v in per})
    colors = {v: color(i) for i, v in enumerate(villages)}
    max_by_unit: dict[str, Decimal] = defaultdict(Decimal)
    for (_, _, unit), per in totals.items():
        max_by_unit[unit] = max(max_by_unit[unit], sum(per.values(), Decimal()))
    span = width - label_width - 90
    # Units with the most bars first; within a unit, longest first.
    bars_per_unit: dict[str, int] = defaultdict(int)
    for (_, _, unit) in totals:
        bars_per_unit[unit] += 1
    ordered = sorted(totals.items(), key=lambda kv: (-bars_per_unit[kv[0][2]], kv[0][2],
                                                     -sum(kv[1].values(), Decimal()), kv[0][0]))
    bars = []
    headings: list[tuple[float, str]] = []
    y = 0.0
    for (_, name, unit), per in ordered:
        if not headings or headings[-1][1] != unit:
            headings.append((y + bar_height * 0.75, unit))
            y += bar_height + gap / 2
        total = sum(per.values(), Decimal())
        bar = Bar(name=name, unit=unit, total=total, y=y)
        y += bar_height + gap
        x = float(label_width)
        for v in villages:
            q = per.get(v)
            if not q:
                continue
            w = float(q / max_by_unit[unit]) * span if max_by_unit[unit] else 0.0
            bar.segments.append(Segment(v, q, round(x, 1), round(max(w, 1.0), 1), colors[v]))
            x += w
        bars.append(bar)
    height = max(int(y), bar_height + gap)
    # A missing village stays "" here: the page names it in its language.
    return BarChart(bars, [(v, colors[v]) for v in villages], width, height, label_width,
                    bar_height, headings)


@dataclass
class Point:
    x: float
    y: float
    label: str
    detail: str
    color: str
    r: float = 0.0  # service radius in px (leaders)


@dataclass
class MapView:
    residents: list[Point]
    leaders: list[Point]
    legend: list[tuple[str, str]]
    width: int
    height: int
    scale_px: float
    scale_km: float


KM_PER_DEG_LAT = 110.574


def project(points: Iterable[tuple[float, float, float]], width: int, height: int,
            margin: int) -> tuple[float, float, float, float, float]:
    """An equirectangular projection around the mean latitude fitting every (lat, lon, radius_km)
    in the box; returns (lat0, lon0, km_x_per_deg, px_per_km, offset)."""
    pts = list(points)
    lat0 = sum(p[0] for p in pts) / len(pts)
    kx = KM_PER_DEG_LAT * 1.00336 * math.cos(math.radians(lat0))
    xs = [((p[1] * kx) - p[2], (p[1] * kx) + p[2]) for p in pts]
    ys = [((p[0] * KM_PER_DEG_LAT) - p[2], (p[0] * KM_PER_DEG_LAT) + p[2]) for p in pts]
    min_x, max_x = min(a for a, _ in xs), max(b for _, b in xs)
    min_y, max_y = min(a for a, _ in ys), max(b for _, b in ys)
    span_x, span_y = max(max_x - min_x, 0.5), max(max_y - min_y, 0.5)
    px = min((width - 2 * margin) / span_x, (height - 2 * margin) / span_y)
    # Centre the drawing along the dimension that has room to spare.
    min_x -= ((width - 2 * margin) / px - span_x) / 2
    max_y += ((height - 2 * margin) / px - span_y) / 2
    return min_x, max_y, kx, px, margin


def map_view(residents: Sequence[tuple[float, float, str, str, str]],
             leaders: Sequence[tuple[float, float, float, str, str, bool]], *, width: int = 760,
             height: int = 560, margin: int = 24) -> MapView | None:
    """residents: (lat, lon, name, village, phone);
    leaders: (lat, lon, radius_km, name, detail, on_duty) — off-duty leaders are drawn grey."""
    pts = [(r[0], r[1], 0.0) for r in residents] + [(ld[0], ld[1], ld[2]) for ld in leaders]
    if not pts:
        return None
    min_x, max_y, kx, px, off = project(pts, width, height, margin)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return round(off + (lon * kx - min_x) * px, 1), round(off + (max_y - lat * KM_PER_DEG_LAT) * px, 1)

    villages = sorted({r[3] for r in residents})
    colors = {v: color(i) for i, v in enumerate(villages)}
    res = [Point(*xy(r[0], r[1]), label=r[2], detail=f"{r[3]} {r[4]}", color=colors[r[3]])
           for r in residents]
    lds = [Point(*xy(ld[0], ld[1]), label=ld[3], detail=ld[4],
                 color="#222" if ld[5] else "#999",
                 r=round(ld[2] * px, 1)) for ld in leaders]
    # A scale bar of a round number of km, about a fifth of the width.
    target = width / 5 / px
    km = next((k for k in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if k >= target), 1000)
    return MapView(res, lds, [(v or "?", colors[v]) for v in villages], width, height,
                   round(km * px, 1), km)
