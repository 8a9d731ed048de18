"""Facts about the machine and the software a benchmark run used."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info() -> dict[str, object]:
    """CPU model, core count, memory and operating system of this machine."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_mb": _memory_mb(),
        "os": f"{platform.system()} {platform.release()}",
    }


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``"not installed"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def software_versions() -> dict[str, str]:
    """Python and the Python packages the backends use (servers are added by the runner)."""
    return {
        "python": sys.version.split()[0],
        "eventsourcing": package_version("eventsourcing"),
        "immudb-py": package_version("immudb-py"),
        "orjson": package_version("orjson"),
        "psycopg": package_version("psycopg"),
    }
