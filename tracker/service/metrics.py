"""Prometheus metrics of the service (`tracker run --metrics-port`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.models import RoundReport


@dataclass
class Metrics:
    registry: Any
    price: Any
    price_time: Any
    rounds: Any
    outcomes: Any
    latency: Any
    last_round: Any

    @classmethod
    def create(cls) -> Metrics:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        reg = CollectorRegistry()
        return cls(
            registry=reg,
            price=Gauge(
                "tracker_consensus_price_usd", "Last consensus BTC/USD price", registry=reg
            ),
            price_time=Gauge(
                "tracker_consensus_timestamp_seconds", "Unix time of the last consensus",
                registry=reg,
            ),
            rounds=Counter("tracker_rounds", "Fetch rounds by status", ["status"], registry=reg),
            outcomes=Counter(
                "tracker_source_outcomes", "Per-source outcomes", ["source", "outcome"],
                registry=reg,
            ),
            latency=Histogram(
                "tracker_source_latency_seconds", "Per-source latency", ["source"], registry=reg,
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            ),
            last_round=Gauge(
                "tracker_last_round_timestamp_seconds", "Unix time the last round ended",
                registry=reg,
            ),
        )  # fmt: skip

    def observe(self, rr: RoundReport) -> None:
        self.rounds.labels(rr.status.value).inc()
        self.last_round.set(rr.finished_at.timestamp())
        if rr.price is not None:
            # a float only for the exporter: Prometheus samples are float64 by definition
            self.price.set(float(rr.price))
            self.price_time.set(rr.finished_at.timestamp())
        for line in rr.lines:
            self.outcomes.labels(line.source, line.outcome.value).inc()
            if line.latency_ms is not None:
                self.latency.labels(line.source).observe(line.latency_ms / 1000)

    def serve(self, port: int, addr: str) -> Any:
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server
