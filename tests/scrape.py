"""Scraping a process's ``/metrics`` endpoint over HTTP, as Prometheus does."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int, host: str = "127.0.0.1") -> Samples:
    """Every sample the endpoint serves: ``(name, sorted labels) -> value``."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        text = response.read().decode("utf-8")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def wait_for(
    port: int, check: Callable[[Samples], bool], timeout: float = 30.0, what: str = ""
) -> Samples:
    """Scrape until ``check`` holds (the endpoint may not be up yet); the last scrape."""
    deadline = time.monotonic() + timeout
    last: Samples = {}
    while True:
        try:
            last = scrape(port)
            if check(last):
                return last
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}: last scrape {last}")
        time.sleep(0.1)
