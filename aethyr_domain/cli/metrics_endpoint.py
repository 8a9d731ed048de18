"""The ``/metrics`` endpoint every long-running ``aethyr-es`` process serves.

``play``, ``project`` and ``rebuild`` call :func:`serve_metrics` first thing: when
``metrics_enabled`` is set it starts prometheus-client's HTTP server on
``metrics_address:metrics_port`` (a daemon thread) serving the global registry, where
the recorder's and the outbox's metrics live, with the projections' registry bridged
in (:func:`aethyr_domain.read.projections.metrics.expose`), so one scrape shows them all.
With event sourcing off only the process metrics are served: the projections'
package is not even imported (it holds the read-model stores).

A port already in use or an address that does not resolve is a
:class:`MetricsEndpointError` (the CLI prints it as one line, exit code 2), raised
before the process does any work. ``docs/metrics.md`` lists every metric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Gauge

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from aethyr_domain.config import ServerConfig


#: ``aethyr_info`` (prometheus' global registry): which processes serve metrics.
INFO = Gauge(
    "aethyr_info",
    "Always 1: one series per aethyr-es process serving metrics, labelled with its "
    "command, whether event sourcing is on, and the event store.",
    ["command", "event_sourcing", "event_store"],
)


class MetricsEndpointError(RuntimeError):
    """The metrics endpoint could not be started (address in use, name unresolvable)."""


class MetricsEndpoint:
    """A running ``/metrics`` HTTP server; :meth:`close` stops it and frees the port."""

    def __init__(self, server: WSGIServer, address: str, port: int) -> None:
        self._server = server
        self.address = address
        #: The port actually bound (the configured one).
        self.port = port

    def close(self) -> None:
        """Stop serving and release the socket (idempotent)."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MetricsEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(config: ServerConfig, command: str) -> MetricsEndpoint | None:
    """Start the endpoint if ``config.metrics_enabled`` (else ``None``).

    ``command`` (``play``, ``serve``, ``project``, ``rebuild``) labels ``aethyr_info``, the
    gauge (always 1) that tells which processes run, and with which store.
    """
    if not config.metrics_enabled:
        return None
    from prometheus_client import start_http_server

    INFO.labels(
        command,
        "true" if config.event_sourcing_enabled else "false",
        config.event_store if config.event_sourcing_enabled else "none",
    ).set(1)

    if config.event_sourcing_enabled:
        from aethyr_domain.read.projections import metrics

        metrics.expose()
    address, port = config.metrics_address, config.metrics_port
    try:
        server, _thread = start_http_server(port, addr=address)
    except OSError as exc:  # EADDRINUSE, EACCES, socket.gaierror (unresolvable name), ...
        reason = exc.strerror or str(exc)
        raise MetricsEndpointError(
            f"cannot serve metrics on {address}:{port} (metrics_address, metrics_port): {reason}"
        ) from None
    return MetricsEndpoint(server, address, port)
