"""``python -m bench``: run the scenarios, print the table, write it to docs/performance.md.

``--smoke`` runs a tiny version of every scenario (CI checks that each runs and reports, not its timing).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.scenarios import Row, Size, run_all

PERFORMANCE_DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
HEADERS = ("scenario", "ours", "comparison", "ratio", "target", "result", "how measured")


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = (
            row.scenario,
            row.ours,
            row.theirs,
            row.ratio,
            row.target,
            "pass" if row.passed else "MISS",
            row.note,
        )
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    """What the figures were measured on."""
    return (
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def write_doc(rows: list[Row]) -> None:
    """Replace the generated part of docs/performance.md, keeping the written analysis below it."""
    marker = "<!-- end of generated table -->"
    analysis = ""
    if PERFORMANCE_DOC.exists() and marker in PERFORMANCE_DOC.read_text(encoding="utf-8"):
        analysis = PERFORMANCE_DOC.read_text(encoding="utf-8").split(marker, 1)[1]
    PERFORMANCE_DOC.parent.mkdir(exist_ok=True)
    PERFORMANCE_DOC.write_text(
        "# Performance\n\n"
        f"Measured by `python -m bench` on {machine()}. A shared, noisy machine: read the ratios, measured in\n"
        "the same run, before the absolute figures.\n\n" + table(rows) + "\n\n" + marker + analysis,
        encoding="utf-8",
    )


def main() -> int:
    """Run the benchmark; exit status 1 when a scenario could not run (a missed target is reported, not fatal)."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check every scenario runs")
    parser.add_argument("--only", type=int, action="append", help="run only scenario N (repeatable)")
    args = parser.parse_args()
    size = Size(smoke=args.smoke)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        rows = run_all(Path(workdir), size, set(args.only or []))
    print(f"# {machine()}{' (smoke: sizes too small for the targets)' if args.smoke else ''}")
    print(table(rows))
    if not args.smoke and not args.only:
        write_doc(rows)
        print(f"written to {PERFORMANCE_DOC}")
    errors = [row for row in rows if row.ours == "error"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
