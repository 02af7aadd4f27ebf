"""``--metrics-port``: Prometheus metrics of a long-running command on their own HTTP port.

Rules:

1. The long-running commands (``campaign run``, ``campaign resume``, ``webhook serve``) take
   ``--metrics-port PORT`` (0 picks a free one) and ``--metrics-host`` (127.0.0.1 by default:
   a scraper elsewhere needs it said). The port serves ``/metrics`` of the default registry,
   without a token: bind it to an internal interface.
2. The address is printed on stderr once listening (``m5c metrics: http://HOST:PORT/metrics``).
3. It needs the ``metrics`` extra; without it the command refuses to start (usage error).
4. The server (``http.server`` with prometheus-client's ``MetricsHandler``) runs in a daemon
   thread polling every 50 ms, and is shut down when the command ends: Ctrl-C still stops the
   command within two seconds (prometheus-client's own ``start_http_server`` polls every 0.5 s).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from ._inbound import UsageError

if TYPE_CHECKING:
    from ..observability.metrics import Metrics

__all__ = ["add_metrics_options", "default_metrics", "serving_metrics"]


def add_metrics_options(p: argparse.ArgumentParser) -> None:
    """``--metrics-port`` and ``--metrics-host``."""
    g = p.add_argument_group("metrics (the metrics extra)")
    g.add_argument(
        "--metrics-port", type=int, help="serve Prometheus /metrics on this port (0: any free)"
    )
    g.add_argument("--metrics-host", default="127.0.0.1", help="its address (default 127.0.0.1)")


def default_metrics() -> Metrics | None:
    """The default registry's metrics when prometheus-client is installed, else None."""
    try:
        from ..observability.metrics import Metrics
    except ImportError:
        return None
    return Metrics()


@contextmanager
def serving_metrics(args: argparse.Namespace) -> Iterator[Metrics | None]:
    """Serve the metrics while the command runs when ``--metrics-port`` was given."""
    port = getattr(args, "metrics_port", None)
    if port is None:
        yield None
        return
    if not 0 <= port <= 65535:
        raise UsageError(f"--metrics-port {port}: not a port")
    metrics = default_metrics()
    if metrics is None:
        raise UsageError("--metrics-port needs prometheus-client: pip install 'm5c_async[metrics]'")
    server = _server(args.metrics_host, port, metrics)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="m5c-metrics", daemon=True
    )
    thread.start()
    address = server.server_address
    host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
    shown = f"[{host}]" if ":" in host else host
    print(f"m5c metrics: http://{shown}:{address[1]}/metrics", file=sys.stderr, flush=True)
    try:
        yield metrics
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


def _server(host: str, port: int, metrics: Metrics) -> ThreadingHTTPServer:
    """A threading HTTP server answering the registry on every GET, bound to host:port."""
    from prometheus_client.exposition import MetricsHandler

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    handler: type[BaseHTTPRequestHandler] = MetricsHandler.factory(metrics.registry)
    return Server((host, port), handler)
