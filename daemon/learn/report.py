"""Rich tables of scores and evaluations, with trait names and their direction."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from storage.models import TARGETS

# What a high score means; `neuroticism` in First Impressions behaves as emotional stability.
MEANING = {
    "openness": ("Openness", "high = curious, imaginative"),
    "conscientiousness": ("Conscientiousness", "high = organised, dependable"),
    "extraversion": ("Extraversion", "high = outgoing, energetic"),
    "agreeableness": ("Agreeableness", "high = friendly, warm"),
    "neuroticism": ("Emotional stability", "high = calm (dataset column 'neuroticism')"),
    "interview": ("Interview", "high = would be invited to an interview"),
}


def scores_table(
    scores: dict[str, float],
    title: str = "scores",
    intervals: dict[str, list[float]] | None = None,
    level: float | None = None,
) -> Table:
    """The six predicted scores, their intervals when known, and what a high value means."""
    table = Table(title=title, title_justify="left")
    table.add_column("trait")
    table.add_column("score", justify="right")
    if intervals:
        table.add_column(f"{level:.0%} interval" if level else "interval", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("direction", style="dim")
    for t in TARGETS:
        name, direction = MEANING[t]
        value = scores[t]
        bar = "█" * round(value * 10) + "·" * (10 - round(value * 10))
        span = [f"{intervals[t][0]:.2f}-{intervals[t][1]:.2f}"] if intervals else []
        table.add_row(name, f"{value:.2f}", *span, bar, direction)
    return table


def reasons_table(reasons: dict[str, list[dict]], top: int = 3) -> Table:
    """The sections that moved each score most, with signs (occlusion)."""
    table = Table(
        title="reasons (score change each section causes, by removing it)", title_justify="left"
    )
    table.add_column("trait")
    table.add_column("top sections")
    for t in TARGETS:
        items = [r for r in reasons.get(t, []) if r["contribution"]][:top]
        text = ", ".join(f"{r['section']} {r['contribution']:+.3f}" for r in items)
        table.add_row(MEANING[t][0], text or "no section changed the score")
    return table


def _r(value: float | None) -> str:
    return f"{value:+.3f}" if value is not None else "n/a"


def eval_table(result: dict[str, Any]) -> Table:
    """A model's accuracy and Pearson r per target beside the train-mean baseline."""
    model, base = result["model"], result["baseline"]
    table = Table(
        title=f"{result['version']} on {result['split']} ({model['n']} clips)", title_justify="left"
    )
    for col in ("target", "model acc", "baseline acc", "difference", "model r"):
        table.add_column(col, justify="right" if col != "target" else "left")
    for t in TARGETS:
        m, b = model["per_target"][t], base["per_target"][t]
        diff = m["accuracy"] - b["accuracy"]
        table.add_row(
            MEANING[t][0],
            f"{m['accuracy']:.4f}",
            f"{b['accuracy']:.4f}",
            f"{diff:+.4f}",
            _r(m["pearson"]),
        )
    diff = model["mean_accuracy"] - base["mean_accuracy"]
    table.add_row(
        "[bold]mean (5 traits)[/]",
        f"[bold]{model['mean_accuracy']:.4f}[/]",
        f"{base['mean_accuracy']:.4f}",
        f"{diff:+.4f}",
        "",
    )
    return table


def coverage_line(intervals: dict[str, Any] | None) -> str:
    """Empirical coverage and mean width of a model's intervals, in one sentence."""
    if not intervals:
        return "intervals: this model was trained without calibration residuals; retrain it"
    per = ", ".join(
        f"{MEANING[t][0]} {intervals['per_target'][t]['coverage']:.1%}" for t in TARGETS
    )
    return (
        f"{intervals['level']:.0%} intervals: coverage {intervals['mean_coverage']:.1%} "
        f"(5 traits; {per}), mean width {intervals['mean_width']:.3f} on {intervals['n']} clips"
    )
