"""Per-video reports: one self-contained HTML page with scores, timelines and the description.

This module stays light (the CLI imports it for every command); rendering lives in
`daemon.report.make` and its helpers.
"""

from __future__ import annotations

from pathlib import Path

REPORTS_FOLDER = "reports"


def default_report_path(home: Path, sha256: str) -> Path:
    """Where `lprd report` and the report stage write a video's page."""
    return home / REPORTS_FOLDER / f"{sha256}.html"
