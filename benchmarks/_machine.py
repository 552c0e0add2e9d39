"""The machine a benchmark ran on, for the line every benchmark prints with its figures."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int | None = None) -> str:
    """CPU model, logical cores, torch version and the intra-op threads in use."""
    threads = threads or torch.get_num_threads()
    return (f"{cpu_name()}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{threads} thread(s), Python {platform.python_version()}")
