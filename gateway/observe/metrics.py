"""In-process metrics rendered in Prometheus' text format at /metrics."""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from typing import Any, Awaitable, Callable

from aiohttp import web
from sqlalchemy import func, select

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _fmt(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    esc = (lambda v: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in pairs) + "}"


class Metrics:
    """Counters, gauges and histograms with labels; cheap enough for every request."""

    def __init__(self) -> None:
        self.help: dict[str, tuple[str, str]] = {}
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.hists: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self.collectors: list[Callable[[Metrics], Awaitable[None]]] = []

    def describe(self, name: str, kind: str, text: str) -> None:
        self.help[name] = (kind, text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        self.counters[name][_labels(labels)] += value

    def total(self, name: str, value: float, **labels: str) -> None:
        """Set a counter to a running total kept elsewhere (e.g. a pool's restart count)."""
        self.counters[name][_labels(labels)] = value

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[name][_labels(labels)] = value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = _labels(labels)
        h = self.hists[name].get(key)
        if h is None:
            h = self.hists[name][key] = [0.0] * (len(LATENCY_BUCKETS) + 2)  # buckets, sum, count
        i = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if i < len(LATENCY_BUCKETS):
            h[i] += 1
        h[-2] += seconds
        h[-1] += 1

    async def render(self) -> str:
        for collect in self.collectors:
            await collect(self)
        out: list[str] = []

        def head(name: str, default_kind: str) -> None:
            kind, text = self.help.get(name, (default_kind, name.replace("_", " ")))
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        for name, series in sorted(self.counters.items()):
            head(name, "counter")
            out += [f"{name}{_fmt(k)} {v:g}" for k, v in sorted(series.items())]
        for name, series in sorted(self.gauges.items()):
            head(name, "gauge")
            out += [f"{name}{_fmt(k)} {v:g}" for k, v in sorted(series.items())]
        for name, hseries in sorted(self.hists.items()):
            head(name, "histogram")
            for k, h in sorted(hseries.items()):
                cum = 0.0
                for bound, n in zip(LATENCY_BUCKETS, h):
                    cum += n
                    out.append(f"{name}_bucket{_fmt(k, (('le', f'{bound:g}'),))} {cum:g}")
                out.append(f"{name}_bucket{_fmt(k, (('le', '+Inf'),))} {h[-1]:g}")
                out.append(f"{name}_sum{_fmt(k)} {h[-2]:g}")
                out.append(f"{name}_count{_fmt(k)} {h[-1]:g}")
        return "\n".join(out) + "\n"


def request_metrics(metrics: Metrics) -> Any:
    """Middleware: requests by route and status, and their latency."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        route = request.match_info.route.resource
        path = route.canonical if route is not None else "unmatched"
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.inc("doorstep_http_requests_total", method=request.method, route=path,
                        status=str(status))
            metrics.observe("doorstep_http_request_seconds", time.perf_counter() - start,
                            route=path)

    return middleware


def database_collector(database: Any) -> Callable[[Metrics], Awaitable[None]]:
    """Orders by status and outbox depth, read at scrape time."""
    from db.models import Order, Outbox

    async def collect(m: Metrics) -> None:
        async with database.session() as s:
            rows = (await s.execute(select(Order.status, func.count(Order.id))
                                    .group_by(Order.status))).all()
            m.gauges.pop("doorstep_orders", None)
            for status, n in rows:
                m.set("doorstep_orders", n, status=status)
            rows = (await s.execute(select(Outbox.channel, Outbox.status, func.count(Outbox.id))
                                    .group_by(Outbox.channel, Outbox.status))).all()
            m.gauges.pop("doorstep_outbox_messages", None)
            for channel, status, n in rows:
                m.set("doorstep_outbox_messages", n, channel=channel, status=status)

    return collect
