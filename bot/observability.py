"""Request ids, access logs and Prometheus metrics.

Invariants:
- Every request gets an id (a client's ``X-Request-Id`` when it is short and safe, else a random
  one); it is set on every log line and echoed in the ``X-Request-Id`` response header.
- Metrics are labelled by endpoint name, never by raw path, so label cardinality stays bounded.
- Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py``) and ``/metrics``
  aggregates every worker through the library's multiprocess collector.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from bot.logs import request_id_var

log = logging.getLogger("wangzheng.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

REQUESTS = Counter(
    "wangzheng_http_requests_total",
    "HTTP requests handled",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "wangzheng_http_request_duration_seconds",
    "HTTP request latency",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _begin() -> None:
    """Assign the request id and start the clock."""
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(8)
    g.request_id = rid
    g.started = time.perf_counter()
    request_id_var.set(rid)


def _finish(response: Response) -> Response:
    """Record metrics and one access line; echo the request id."""
    endpoint = request.endpoint or "unmatched"
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    LATENCY.labels(endpoint, request.method).observe(elapsed)
    response.headers["X-Request-Id"] = g.get("request_id", "-")
    if endpoint not in ("ops.metrics", "ops.healthz"):
        log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            elapsed * 1000,
            extra={"fields": {"endpoint": endpoint}},
        )
    return response


_SCRAPE_COLLECTORS = "wangzheng.metrics.scrape_collectors"


def add_scrape_collector(app: Flask, collector: Collector) -> None:
    """Add a collector computed at each scrape (e.g. from the database) to ``/metrics``."""
    app.extensions.setdefault(_SCRAPE_COLLECTORS, []).append(collector)


def metrics_payload(app: Flask | None = None) -> tuple[bytes, str]:
    """The exposition text, aggregated across workers in multiprocess mode, followed by the
    app's scrape-time collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    collectors = app.extensions.get(_SCRAPE_COLLECTORS, []) if app is not None else []
    if collectors:
        extra = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            extra.register(collector)
        payload += generate_latest(extra)
    return payload, CONTENT_TYPE_LATEST


def init_app(app: Flask) -> None:
    """Install the request hooks."""
    app.before_request(_begin)
    app.after_request(_finish)
