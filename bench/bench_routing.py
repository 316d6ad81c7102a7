"""Routing time per order with 1,000 and 100,000 leaders: the grid index against a linear scan.

Run `python -m bench.bench_routing [--orders N] [--seed S]`. Leaders are spread over a
province-sized area (about 500 x 450 km) with service radii of 2-10 km, a few wide ones;
every query's answer from the index is checked against the scan's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from gateway.dispatch.routing import LeaderIndex, LeaderSpot, rank

AREA = (27.0, 31.5, 118.0, 123.0)  # lat0, lat1, lon0, lon1 (roughly Zhejiang)


def leaders(n: int, rng: random.Random) -> list[LeaderSpot]:
    lat0, lat1, lon0, lon1 = AREA
    return [LeaderSpot(i, rng.uniform(lat0, lat1), rng.uniform(lon0, lon1),
                       radius_km=rng.choice((2, 3, 5, 5, 8, 10)) if rng.random() > 0.001 else 80,
                       capacity=rng.randint(1, 8), on_duty=rng.random() > 0.2)
            for i in range(1, n + 1)]


def run(n: int, orders: int, rng: random.Random) -> dict[str, float]:
    spots = leaders(n, rng)
    open_tasks = {s.id: rng.randint(0, 3) for s in spots}
    t0 = time.perf_counter()
    index = LeaderIndex()
    for s in spots:
        index.upsert(s)
    build = time.perf_counter() - t0
    points = [(rng.uniform(AREA[0], AREA[1]), rng.uniform(AREA[2], AREA[3]))
              for _ in range(orders)]
    idx_times, scan_times, found = [], [], 0
    for lat, lon in points:
        t = time.perf_counter()
        a = rank(lat, lon, index.near(lat, lon), open_tasks)
        idx_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = rank(lat, lon, spots, open_tasks)
        scan_times.append(time.perf_counter() - t)
        assert a == b, (lat, lon)
        found += bool(a)
    return {"build_ms": build * 1e3,
            "index_ms": statistics.mean(idx_times) * 1e3,
            "index_p99_ms": sorted(idx_times)[int(0.99 * len(idx_times))] * 1e3,
            "scan_ms": statistics.mean(scan_times) * 1e3,
            "routed": found / len(points)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=300, help="orders routed per size")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"{'leaders':>8} {'build':>9} {'index/order':>12} {'p99':>9} {'scan/order':>11} "
          f"{'speed-up':>9} {'with leader':>11}")
    for n in (1_000, 100_000):
        r = run(n, args.orders, rng)
        print(f"{n:>8,} {r['build_ms']:>7.1f}ms {r['index_ms']:>10.3f}ms {r['index_p99_ms']:>7.3f}ms "
              f"{r['scan_ms']:>9.3f}ms {r['scan_ms'] / r['index_ms']:>8.0f}x {r['routed']:>10.0%}")
    print("(same answers from index and scan for every order; mean times per order)")


if __name__ == "__main__":
    main()
