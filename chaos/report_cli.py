"""`galera-lab report`: a results file of a chaos run → Markdown summary with PNG timelines.

The CLI wires `report_command` in; it stays here so that the chaos package owns its format.
"""

from __future__ import annotations

from pathlib import Path

from chaos.report import ResultsFile, render_markdown
from lab.errors import LabError


def latest_results(stack: Path) -> Path:
    """The newest `results/<run-id>/results.json` of a stack (run ids sort by time)."""
    found = sorted((stack / "results").glob("*/results.json"), key=lambda p: (p.stat().st_mtime, p.parent.name))
    if not found:
        raise LabError(f"no chaos results under {stack / 'results'}; run `make chaos` first")
    return found[-1]


def report_command(results_path: Path | None, stack: Path) -> Path:
    """Render `report.md` (and its plots) next to the results file; returns the Markdown path.

    With no path given, the latest run of the stack is used.
    """
    path = results_path or latest_results(stack)
    if path.is_dir():
        path = path / "results.json"
    if not path.exists():
        raise LabError(f"{path}: no such results file")
    try:
        results = ResultsFile.load(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise LabError(f"{path}: not a chaos results file ({exc})") from None
    return render_markdown(results, path.parent)
