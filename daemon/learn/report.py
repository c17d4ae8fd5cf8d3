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


def scores_table(scores: dict[str, float], title: str = "scores") -> Table:
    """The six predicted scores with what a high value means."""
    table = Table(title=title, title_justify="left")
    table.add_column("trait")
    table.add_column("score", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("direction", style="dim")
    for t in TARGETS:
        name, direction = MEANING[t]
        value = scores[t]
        bar = "█" * round(value * 10) + "·" * (10 - round(value * 10))
        table.add_row(name, f"{value:.2f}", bar, direction)
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
