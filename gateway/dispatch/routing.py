"""Who gets an order: the nearest available leader, found through a grid index (no I/O here).

A leader is a candidate for a point when on duty, below capacity and within their own service
radius of it. Candidates are ranked nearest first, ties broken by fewer open tasks, then by id;
the resident's preferred leader comes first whenever on duty with room (their radius is not
required: the resident chose them). The `LeaderIndex` buckets leader bases into cells of
`cell_deg` degrees so that a query looks at the cells around the point instead of every leader;
leaders whose radius is wider than `wide_km` live in a small list that is always checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.orders.geo import EARTH_RADIUS_KM, distance_km

KM_PER_DEG_LAT = math.pi * EARTH_RADIUS_KM / 180.0


@dataclass(frozen=True)
class LeaderSpot:
    """What routing needs to know about a leader."""

    id: int
    lat: float
    lon: float
    radius_km: float
    capacity: int
    on_duty: bool = True


@dataclass(frozen=True)
class Candidate:
    leader_id: int
    distance_km: float
    open_tasks: int
    preferred: bool = False


def rank(lat: float, lon: float, leaders: Iterable[LeaderSpot], open_tasks: Mapping[int, int],
         *, preferred_id: int | None = None, exclude: Iterable[int] = ()) -> list[Candidate]:
    """The leaders who may take an order at (lat, lon), best first."""
    excluded = set(exclude)
    out: list[Candidate] = []
    seen: set[int] = set()
    for ld in leaders:
        if ld.id in excluded or ld.id in seen or not ld.on_duty:
            continue
        seen.add(ld.id)
        n = open_tasks.get(ld.id, 0)
        if n >= ld.capacity:
            continue
        d = distance_km(lat, lon, ld.lat, ld.lon)
        preferred = ld.id == preferred_id
        if d <= ld.radius_km or preferred:
            out.append(Candidate(ld.id, d, n, preferred))
    out.sort(key=lambda c: (not c.preferred, c.distance_km, c.open_tasks, c.leader_id))
    return out


class LeaderIndex:
    """Leader bases bucketed in a lat/lon grid; `near()` returns the few whose radius may cover a
    point. Positions and radii only: duty and capacity change often and are checked by `rank`."""

    def __init__(self, cell_deg: float = 0.1, wide_km: float = 50.0) -> None:
        self.cell_deg = cell_deg
        self.wide_km = wide_km
        self._cells: dict[tuple[int, int], dict[int, LeaderSpot]] = {}
        self._where: dict[int, tuple[int, int] | None] = {}  # None: in the wide list
        self._wide: dict[int, LeaderSpot] = {}
        self._max_radius = 0.0  # of the gridded leaders; only grows, which is safe
        self._lon_cells = max(1, round(360 / cell_deg))

    def __len__(self) -> int:
        return len(self._where)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self.cell_deg),
                math.floor((lon + 180.0) / self.cell_deg) % self._lon_cells)

    def upsert(self, spot: LeaderSpot) -> None:
        self.remove(spot.id)
        if spot.radius_km > self.wide_km:
            self._wide[spot.id] = spot
            self._where[spot.id] = None
            return
        cell = self._cell(spot.lat, spot.lon)
        self._cells.setdefault(cell, {})[spot.id] = spot
        self._where[spot.id] = cell
        self._max_radius = max(self._max_radius, spot.radius_km)

    def remove(self, leader_id: int) -> None:
        if leader_id not in self._where:
            return
        cell = self._where.pop(leader_id)
        if cell is None:
            self._wide.pop(leader_id, None)
            return
        bucket = self._cells.get(cell, {})
        bucket.pop(leader_id, None)
        if not bucket:
            self._cells.pop(cell, None)

    def get(self, leader_id: int) -> LeaderSpot | None:
        if leader_id not in self._where:
            return None
        cell = self._where[leader_id]
        return self._wide.get(leader_id) if cell is None else self._cells[cell].get(leader_id)

    def near(self, lat: float, lon: float) -> list[LeaderSpot]:
        """Every indexed leader within their own radius of the point (distance checked)."""
        out = [s for s in self._wide.values()
               if abs(s.lat - lat) * KM_PER_DEG_LAT <= s.radius_km
               and distance_km(lat, lon, s.lat, s.lon) <= s.radius_km]
        if not self._cells:
            return out
        reach = self._max_radius
        dlat = reach / KM_PER_DEG_LAT
        lat_lo, lat_hi = max(-90.0, lat - dlat), min(90.0, lat + dlat)
        cos_min = min(math.cos(math.radians(lat_lo)), math.cos(math.radians(lat_hi)))
        r0, r1 = math.floor(lat_lo / self.cell_deg), math.floor(lat_hi / self.cell_deg)
        if cos_min < 1e-6 or reach / (KM_PER_DEG_LAT * cos_min) >= 180:
            cols: Iterable[int] = range(self._lon_cells)  # near a pole: every longitude
        else:
            dlon = reach / (KM_PER_DEG_LAT * cos_min)
            c0 = math.floor((lon - dlon + 180.0) / self.cell_deg)
            c1 = math.floor((lon + dlon + 180.0) / self.cell_deg)
            cols = range(self._lon_cells) if c1 - c0 + 1 >= self._lon_cells else \
                [c % self._lon_cells for c in range(c0, c1 + 1)]
        for r in range(r0, r1 + 1):
            for c in cols:
                bucket = self._cells.get((r, c))
                if not bucket:
                    continue
                for s in bucket.values():
                    # Cheap reject on latitude alone before the trigonometry.
                    if abs(s.lat - lat) * KM_PER_DEG_LAT > s.radius_km:
                        continue
                    if distance_km(lat, lon, s.lat, s.lon) <= s.radius_km:
                        out.append(s)
        return out


@dataclass(frozen=True)
class Blocker:
    """Why the nearest leader could not take an order: the real cause, with the distance."""

    leader_id: int
    distance_km: float
    cause: str  # not_joined | off_duty | full | too_far | tried
    radius_km: float = 0.0


def why_none(lat: float, lon: float, leaders: Iterable[tuple[LeaderSpot, bool]],
             open_tasks: Mapping[int, int], *, exclude: Iterable[int] = ()) -> Blocker | None:
    """For an order nobody could take: the nearest leader and what kept them from it.
    `leaders` are (spot, joined) pairs, joined meaning the leader can be told (Telegram).
    Leaders within their radius come before those beyond it; None without any leaders."""
    excluded = set(exclude)
    found: list[tuple[bool, float, Blocker]] = []
    for spot, joined in leaders:
        d = distance_km(lat, lon, spot.lat, spot.lon)
        if spot.id in excluded:
            cause = "tried"
        elif d > spot.radius_km:
            cause = "too_far"
        elif not joined:
            cause = "not_joined"
        elif not spot.on_duty:
            cause = "off_duty"
        elif open_tasks.get(spot.id, 0) >= spot.capacity:
            cause = "full"
        else:
            continue  # could take it: not a blocker (the caller found it by other rules)
        found.append((cause == "too_far", d, Blocker(spot.id, d, cause, spot.radius_km)))
    if not found:
        return None
    return min(found, key=lambda f: (f[0], f[1]))[2]
