"""Small file helpers of the exports: sizes for the summary line, JSON metadata."""

import json
import os

__all__ = ["human_size", "write_json"]


def human_size(path):
    total = os.path.getsize(path) if os.path.isfile(path) else sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    for unit in ("B", "KB", "MB", "GB"):
        if total < 1024 or unit == "GB":
            return f"{total:.0f} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1024


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
