"""gunicorn settings. Workers and threads come from the environment so operators can size them.

Invariants:
- ``PROMETHEUS_MULTIPROC_DIR`` is set and emptied before any worker starts, so ``/metrics``
  aggregates all workers; a dead worker's files are marked by ``child_exit``.
- ``preload_app`` is on: the app (and its config check) loads once in the master, so a bad
  production config fails the start before any worker forks. Database pools are disposed after
  fork so no connection is shared across processes.
- The face model is never loaded (nor onnxruntime imported) in the master: onnxruntime is not
  fork-safe. With ``WANGZHENG_FACE_LOAD_ON_START`` each worker loads it right after the fork.
"""

import os
import shutil
import tempfile

bind = os.environ.get("WANGZHENG_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WANGZHENG_WORKERS", "2"))
threads = int(os.environ.get("WANGZHENG_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("WANGZHENG_WORKER_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
preload_app = True
# Recycling is off by default (gunicorn's own default). Measured (docs/benchmarks.md, issue 14,
# session 13): recycling every ~5,000 requests cost the bare endpoint a quarter of its CPU per
# request (0.48-0.55 against 0.36-0.38 ms: each new worker faults in its copy of the preloaded
# app), and since keep-alive connections stay with the worker that accepted them, a recycled
# worker's clients crowd onto the others: verify's p99 at half of peak was 23-141 ms against
# 12-28 ms without. Worker memory did not grow over 200,000 requests. Set it if yours does.
max_requests = int(os.environ.get("WANGZHENG_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None  # the app writes its own structured access lines
errorlog = "-"

_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"wangzheng-metrics-{os.getpid()}"),
)
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def post_fork(server, worker):  # gunicorn hook signature
    """Give each worker its own database connections, then (if asked) its own face model."""
    from bot.extensions import database
    from bot.face import warm_up

    app = worker.app.wsgi()
    database(app).dispose()
    warm_up(app)


def child_exit(server, worker):  # gunicorn hook signature
    """Let prometheus_client forget a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
