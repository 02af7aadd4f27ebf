"""``--metrics-port``: Prometheus metrics of a long-running command on their own HTTP port.

Rules:

1. The long-running commands (``campaign run``, ``campaign resume``, ``webhook serve``) take
   ``--metrics-port PORT`` (0 picks a free one) and ``--metrics-host`` (127.0.0.1 by default:
   a scraper elsewhere needs it said). The port serves ``/metrics`` of the default registry,
   without a token: bind it to an internal interface.
2. The address is printed on stderr once listening (``m5c metrics: http://HOST:PORT/metrics``).
3. It needs the ``metrics`` extra; without it the command refuses to start (usage error).
4. The server runs in a daemon thread and is shut down when the command ends (Ctrl-C too).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=args.metrics_host, registry=metrics.registry)
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
