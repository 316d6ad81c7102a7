"""Routing as plain data: distance, radius, duty, capacity, ranking; the index agrees with a scan."""

from __future__ import annotations

import random

import pytest

from gateway.dispatch.routing import LeaderIndex, LeaderSpot, distance_km, rank


def test_distance_is_great_circle() -> None:
    assert distance_km(30.6, 119.7, 30.6, 119.7) == 0
    # Beijing to Shanghai is about 1,067 km.
    assert distance_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067, abs=5)
    # One degree of latitude is about 111.2 km everywhere.
    assert distance_km(10, 20, 11, 20) == pytest.approx(111.2, abs=0.1)


def test_rank_nearest_first_within_radius_on_duty_with_room() -> None:
    here = (30.6, 119.7)
    leaders = [
        LeaderSpot(1, 30.61, 119.7, radius_km=5, capacity=5),            # 1.1 km
        LeaderSpot(2, 30.605, 119.7, radius_km=5, capacity=5),           # 0.6 km
        LeaderSpot(3, 30.601, 119.7, radius_km=5, capacity=5, on_duty=False),
        LeaderSpot(4, 30.602, 119.7, radius_km=5, capacity=2),           # full
        LeaderSpot(5, 30.7, 119.7, radius_km=5, capacity=5),             # 11 km: out of reach
        LeaderSpot(6, 30.7, 119.7, radius_km=20, capacity=5),            # 11 km, wide radius
    ]
    got = rank(*here, leaders, {4: 2, 1: 1})
    assert [c.leader_id for c in got] == [2, 1, 6]
    assert got[0].distance_km == pytest.approx(0.556, abs=0.01)
    assert [c.leader_id for c in rank(*here, leaders, {}, exclude=[2])] == [4, 1, 6]


def test_ties_go_to_fewer_open_tasks_and_preferred_comes_first() -> None:
    a = LeaderSpot(1, 30.61, 119.7, 5, 5)
    b = LeaderSpot(2, 30.61, 119.7, 5, 5)
    assert [c.leader_id for c in rank(30.6, 119.7, [a, b], {1: 3, 2: 1})] == [2, 1]
    far = LeaderSpot(3, 30.65, 119.7, 2, 5)  # 5.6 km, beyond their 2 km radius
    got = rank(30.6, 119.7, [a, b, far], {}, preferred_id=3)
    assert [c.leader_id for c in got] == [3, 1, 2] and got[0].preferred
    off = LeaderSpot(3, 30.65, 119.7, 2, 5, on_duty=False)
    assert [c.leader_id for c in rank(30.6, 119.7, [a, b, off], {}, preferred_id=3)] == [1, 2]


def _random_leaders(n: int, rng: random.Random, box: tuple[float, float, float, float]
                    ) -> list[LeaderSpot]:
    lat0, lat1, lon0, lon1 = box
    return [LeaderSpot(i, rng.uniform(lat0, lat1), rng.uniform(lon0, lon1),
                       radius_km=rng.choice([1, 3, 5, 8, 15, 80]), capacity=5)
            for i in range(1, n + 1)]


@pytest.mark.parametrize("box", [(30, 31, 119, 120), (-1, 1, 179, 181), (88, 90, 0, 360)])
def test_index_finds_exactly_what_a_scan_finds(box: tuple[float, float, float, float]) -> None:
    rng = random.Random(7)
    leaders = _random_leaders(3000, rng, box)
    for ld in leaders:  # longitudes beyond 180 wrap round the antimeridian
        object.__setattr__(ld, "lon", (ld.lon + 180) % 360 - 180)
    index = LeaderIndex()
    for ld in leaders:
        index.upsert(ld)
    for _ in range(200):
        lat = rng.uniform(box[0], box[1])
        lon = (rng.uniform(box[2], box[3]) + 180) % 360 - 180
        assert rank(lat, lon, index.near(lat, lon), {}) == rank(lat, lon, leaders, {})


def test_index_follows_moves_and_removals() -> None:
    index = LeaderIndex()
    index.upsert(LeaderSpot(1, 30.6, 119.7, 5, 5))
    assert [s.id for s in index.near(30.6, 119.7)] == [1]
    index.upsert(LeaderSpot(1, 40.0, 116.0, 5, 5))
    assert index.near(30.6, 119.7) == [] and len(index) == 1
    index.upsert(LeaderSpot(1, 40.0, 116.0, 500, 5))  # now in the wide list
    assert [s.id for s in index.near(41.0, 116.0)] == [1]
    index.remove(1)
    assert index.near(40.0, 116.0) == [] and len(index) == 0
