"""gunicorn settings for production: ``gunicorn wsgi:app`` (or ``make serve``) reads this file.

Every setting can be overridden from the environment, as noted beside it.
"""

import gc
import multiprocessing
import os
import re
import shutil
import tempfile

import gunicorn.http.wsgi

# Where to listen. Behind a load balancer, bind to the private interface.
bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)

# Sync workers, one request at a time each: the work is database-bound and short.
# (2 x cores) + 1 keeps the cores busy while some workers wait on PostgreSQL.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# Workers are not recycled: a worker's start costs about a second of CPU (imports, the
# app, its first connections), and nothing here is known to leak. Set a count to recycle
# each worker after about that many requests, staggered by the jitter.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))

# A request may take at most this long before its worker is replaced; database
# statements are bounded well below it (DATABASE_STATEMENT_TIMEOUT, 5 s by default).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (a deployment), stop accepting and let requests in flight finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Longer than the load balancer's idle timeout, so it never reuses a closed socket.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))

# The app writes one JSON line per request itself (route, status, duration, request
# id); gunicorn's own access log is off unless asked for, and then it leaves out the
# query string, which can hold an email address.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = (
    '{"remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": "%(s)s", '
    '"duration_us": %(D)s, "request_id": "%({x-request-id}o)s"}'
)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Each worker imports the app after the fork (no preload), so each builds its own
# SQLAlchemy engine and pool: no connection is ever shared across processes.
preload_app = False

# "Server: gunicorn" tells a scanner which software, and so which bugs, to try; say only
# what this is. (gunicorn writes whatever its response module holds.)
gunicorn.http.wsgi.SERVER = "registrar"

# gunicorn answers a request line over its limit itself, in HTML. Let lines up to its
# maximum through, so that the app answers those over MAX_URL_LENGTH (src/__init__.py)
# with a problem (414); only lines over 8,190 bytes still get gunicorn's own answer.
limit_request_line = 8190
# Likewise headers: the app answers more than 100 fields, or one over 8 KiB, with a
# problem (431); gunicorn's own HTML answer is left for requests past these, which no
# client of this API sends (1,000 fields, or one over 64 KiB).
limit_request_fields = 1000
limit_request_field_size = 65536

# Prometheus: every worker writes its samples to one directory, any worker serves the sum.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_made_metrics_dir = False
if not _metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="registrar-metrics-")
    _made_metrics_dir = True
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
raw_env = [f"PROMETHEUS_MULTIPROC_DIR={_metrics_dir}"]


#: The files prometheus_client writes in multiprocess mode (counter_1234.db, ...).
METRIC_FILE = re.compile(r"^(counter|gauge_[a-z]+|histogram|summary)_\d+\.db$")


def on_starting(server):
    """Start from empty metric files: samples of a previous run would be summed in.

    Only prometheus_client's own files: an operator may point the directory at one
    that holds other things.
    """
    for name in os.listdir(_metrics_dir):
        if METRIC_FILE.match(name):
            os.remove(os.path.join(_metrics_dir, name))


def post_worker_init(worker):
    """Exempt what the app allocated at start-up from garbage collection.

    The app, its libraries and their caches are some 125,000 objects that live as
    long as the worker; frozen, the collector's full passes stop scanning them
    (about 4 % of a read's CPU time, measured in process).
    """
    gc.freeze()


def child_exit(server, worker):
    """Drop a dead worker's live gauges (the pool gauges) from the sum."""
    # Imported here, after PROMETHEUS_MULTIPROC_DIR is set: prometheus_client picks
    # its file-backed storage when first imported, and the workers inherit the choice.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory if this file created it."""
    if _made_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
