"""Figures a test measures: printed, and kept as JSON lines under TESSERA_REPORT_DIR so CI can show them."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any


def record(stream: str, figures: dict[str, Any]) -> None:
    """Prints one line of figures and appends it to `<TESSERA_REPORT_DIR>/<stream>.jsonl` when that is set."""
    line = json.dumps(figures, default=_plain)
    print(line)
    directory = os.environ.get("TESSERA_REPORT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with (Path(directory) / f"{stream}.jsonl").open("a") as out:
            out.write(line + "\n")


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not a figure")
