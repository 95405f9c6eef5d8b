"""``/metrics``: every info channel of every DAT in Prometheus' text format, with prometheus-client's naming.

Each channel is one metric family labelled ``dat="NAME"``: counters end in ``_total``, times are in seconds, byte
counts end in ``_bytes_total``, and ``state`` is a gauge labelled with each possible state (1 for the current one).
Process metrics (CPU, memory, open files; Python's GC and version) come from prometheus-client's own collectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ..model.info import CHANNELS
from ..model.serverinfo import SERVER_CHANNELS
from .hub import Hub, kind_of

__all__ = ["METRICS", "SERVER_STATES", "STATES", "MetricSpec", "metrics_registry", "render_metrics"]

#: The states a DAT's ``state`` channel takes.
STATES: Final = ("closed", "connecting", "open", "closing", "reconnecting")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one info channel is exposed: ``wsdat_<name>`` (a counter gets ``_total``), scaled by ``scale``."""

    name: str
    kind: str  # "counter" or "gauge"
    help: str
    scale: float = 1.0


_MS: Final = 0.001
#: Every info channel's metric (``state`` is the labelled gauge ``wsdat_state``).
METRICS: Final[dict[str, MetricSpec]] = {
    "num_rows": MetricSpec("num_rows", "gauge", "Rows of the DAT's table, heading included."),
    "num_cols": MetricSpec("num_cols", "gauge", "Columns of the DAT's table."),
    "total_cooks": MetricSpec("cooks", "counter", "Cooks (batches of received events processed)."),
    "cook_time": MetricSpec("cook_time_seconds", "gauge", "Duration of the last cook.", _MS),
    "cook_frame": MetricSpec("cook_frame", "gauge", "Frame of the last cook, counted from the DAT's start."),
    "cook_abs_frame": MetricSpec("cook_abs_frame", "gauge", "Frame of the last cook, counted from the process start."),
    "cook_start_time": MetricSpec("cook_start_time_seconds", "gauge", "Start of the last cook into its frame.", _MS),
    "cook_end_time": MetricSpec("cook_end_time_seconds", "gauge", "End of the last cook into its start frame.", _MS),
    "cooked_this_frame": MetricSpec("cooked_this_frame", "gauge", "1 if the last cook was in the current frame."),
    "warnings": MetricSpec("warnings", "counter", "Warnings reported by the DAT."),
    "errors": MetricSpec("errors", "counter", "Errors reported by the DAT (failed connects, protocol errors, hooks)."),
    "state": MetricSpec("state", "gauge", "Connection state: 1 for the current state, 0 for the others."),
    "messages_received": MetricSpec("messages_received", "counter", "Messages received."),
    "bytes_received": MetricSpec("received_bytes", "counter", "Payload bytes received."),
    "messages_sent": MetricSpec("messages_sent", "counter", "Messages sent."),
    "bytes_sent": MetricSpec("sent_bytes", "counter", "Payload bytes sent."),
    "connects": MetricSpec("connects", "counter", "Connections opened."),
    "disconnects": MetricSpec("disconnects", "counter", "Connections ended."),
    "reconnects": MetricSpec("reconnects", "counter", "Connect attempts after the first one."),
    "hook_errors": MetricSpec("hook_errors", "counter", "Errors raised by callbacks (also counted in errors)."),
    "retry_attempt": MetricSpec("retry_attempt", "gauge", "While reconnecting: the attempt that comes next (else 0)."),
    "retry_at": MetricSpec("retry_at_seconds", "gauge", "While reconnecting: when the next attempt starts (UNIX time; "
                           "else 0)."),
    # a Web Server DAT's own channels
    "clients": MetricSpec("clients", "gauge", "A server's open WebSocket clients."),
    "http_requests": MetricSpec("http_requests", "counter", "Plain HTTP requests a server answered."),
    "refused": MetricSpec("refused", "counter", "Connections a server turned away (maxclients, failed or slow "
                          "handshakes, clients that did not read)."),
}
#: The states a server's ``state`` channel takes.
SERVER_STATES: Final = ("closed", "starting", "listening")


class _DATCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        panels = list(self.hub.panels.values())
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for channel in (*CHANNELS, *SERVER_CHANNELS[len(CHANNELS):]):
            spec = METRICS.get(channel) or MetricSpec(channel, "gauge", f"Info channel {channel}.")
            name = f"wsdat_{spec.name}"
            if channel == "state":
                families[channel] = GaugeMetricFamily(name, spec.help, labels=["dat", "state"])
            elif spec.kind == "counter":
                families[channel] = CounterMetricFamily(name, spec.help, labels=["dat"])
            else:
                families[channel] = GaugeMetricFamily(name, spec.help, labels=["dat"])
        dat_info = InfoMetricFamily("wsdat_dat", "Each DAT of the service and the URL it connects to (a server: "
                                    "where it listens).", labels=["dat", "url"])
        active = GaugeMetricFamily("wsdat_active", "1 while the DAT's active parameter is on.", labels=["dat"])
        stalled = GaugeMetricFamily("wsdat_stalled", "1 while the DAT gave up until a parameter changes.",
                                    labels=["dat"])
        for panel in panels:
            dat = panel.dat
            info = dat.info
            server = kind_of(dat) == "server"
            for channel, family in families.items():
                if channel not in info:
                    continue  # a server's own channel, on a WebSocket DAT
                value = info[channel]
                if channel == "state":
                    for state in dict.fromkeys((*(SERVER_STATES if server else STATES), value)):
                        family.add_metric([dat.name, str(state)], float(state == value))
                elif isinstance(value, (int, float)):
                    scale = METRICS[channel].scale if channel in METRICS else 1.0
                    family.add_metric([dat.name], float(value) * scale)
            dat_info.add_metric([dat.name], {"url": dat.par.endpoint.url})
            active.add_metric([dat.name], float(bool(dat.par.active)))
            stalled.add_metric([dat.name], float(dat.stalled))
        yield from families.values()
        yield from (dat_info, active, stalled)
        pages = GaugeMetricFamily("wsdat_http_pages", "Live pages (browsers) connected.")
        pages.add_metric([], self.hub.pages)
        yield pages
        dropped = CounterMetricFamily("wsdat_http_dropped_updates",
                                      "Rows and monitor lines a live page never got because it fell behind.")
        dropped.add_metric([], self.hub.dropped)
        yield dropped


def metrics_registry(hub: Hub) -> CollectorRegistry:
    """A registry of the hub's DATs plus the process, platform and GC collectors."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DATCollector(hub))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry``."""
    return generate_latest(registry)
