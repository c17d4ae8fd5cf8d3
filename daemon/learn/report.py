"""Rich tables of scores and evaluations, with each target's title, scale and direction.

Every function takes the target set the figures belong to (default: the built-in First
Impressions set). Scores and intervals handed to `scores_table` are on the declared
scale; evaluation results (`eval_table`, `bootstrap_table`) are in unit space, as the
learning code computes them, and MAE figures are shown on the declared scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from daemon.learn.uncertainty import BEATS, WORSE, on_scale
from daemon.targets import Target, TargetSet, first_impressions

NOT_INFORMATIVE = (
    "No target is predicted better than the train mean on these {n} videos; "
    "the scores are not informative yet."
)
NO_HEAD = (
    "No head predicts any target better than the train mean on these {n} videos; "
    "the scores are not informative yet."
)

# Fewer independent groups (people, or clips where no person is known) than this and a
# group bootstrap has too few draws to mean much: said beside the figures.
MIN_GROUPS = 10
FEW_GROUPS = (
    "Only {groups} people (or independent groups) among these {n} videos: the intervals "
    "come from resampling so few that they are rough. Rate videos of at least {least} "
    "different people before trusting a verdict."
)


def _set(target_set: TargetSet | None) -> TargetSet:
    return target_set or first_impressions()


def _target(target_set: TargetSet, name: str) -> Target:
    """The set's target of that name, or a plain unit-scale one for a name it lacks."""
    try:
        return target_set.get(name)
    except KeyError:
        return Target(name, name, 0.0, 1.0, "", "")


def _ordered(target_set: TargetSet, names: Any) -> list[Target]:
    """The targets among `names`, in the set's order, then any the set does not know."""
    present = set(names)
    known = [t for t in target_set.targets if t.name in present]
    extra = [_target(target_set, n) for n in names if n not in target_set.names]
    return known + extra


def mean_label(target_set: TargetSet | None = None) -> str:
    """'mean (5 traits)' for First Impressions, 'mean (all targets)' for a study's set."""
    return "mean (5 traits)" if _set(target_set).builtin else "mean (all targets)"


def decimals(target: Target) -> int:
    """Digits a score on this target's scale is shown with: 2 up to a span of 1, else 1."""
    return 2 if target.span <= 1 else 1


def mae_decimals(target: Target) -> int:
    """Digits an error on this target's scale is shown with (about 1/1000 of the span)."""
    return max(0, 3 - math.ceil(math.log10(target.span))) if target.span > 0 else 3


def bar(target: Target, value: float, width: int = 10) -> str:
    """`value`'s place on the target's scale as a bar of `width` cells."""
    share = min(1.0, max(0.0, (value - target.low) / target.span)) if target.span else 0.0
    filled = round(share * width)
    return "█" * filled + "·" * (width - filled)


def _span_text(low: float, high: float, digits: int) -> str:
    sep = "-" if low >= 0 and high >= 0 else " to "
    return f"{low:.{digits}f}{sep}{high:.{digits}f}"


def scores_table(
    scores: dict[str, float],
    title: str = "scores",
    intervals: dict[str, list[float]] | None = None,
    level: float | None = None,
    target_set: TargetSet | None = None,
) -> Table:
    """Each target's predicted score on its declared scale, its interval when known, a
    bar relative to the scale, and what a high value means."""
    target_set = _set(target_set)
    table = Table(title=title, title_justify="left")
    table.add_column("trait" if target_set.builtin else "target")
    table.add_column("score", justify="right")
    if intervals:
        table.add_column(f"{level:.0%} interval" if level else "interval", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("direction", style="dim")
    for t in target_set.targets:
        value, digits = scores.get(t.name), decimals(t)
        known = value is not None and not math.isnan(value)
        span = []
        if intervals:
            pair = intervals.get(t.name)
            span = [_span_text(pair[0], pair[1], digits) if pair else ""]
        table.add_row(
            t.title,
            f"{value:.{digits}f}" if known else "n/a",
            *span,
            bar(t, value) if known else "",
            t.direction(),
        )
    return table


def reasons_table(
    reasons: dict[str, list[dict]], top: int = 3, target_set: TargetSet | None = None
) -> Table:
    """The sections that moved each score most, with signs (occlusion)."""
    target_set = _set(target_set)
    table = Table(
        title="reasons (score change each section causes, by removing it)", title_justify="left"
    )
    table.add_column("trait" if target_set.builtin else "target")
    table.add_column("top sections")
    for t in target_set.targets:
        items = [r for r in reasons.get(t.name, []) if r["contribution"]][:top]
        text = ", ".join(f"{r['section']} {r['contribution']:+.3f}" for r in items)
        table.add_row(t.title, text or "no section changed the score")
    return table


def _r(value: float | None) -> str:
    return f"{value:+.3f}" if value is not None else "n/a"


def _acc(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def _diff(model: float | None, base: float | None) -> str:
    if model is None or base is None or math.isnan(model) or math.isnan(base):
        return "n/a"
    return f"{model - base:+.4f}"


def eval_table(result: dict[str, Any], target_set: TargetSet | None = None) -> Table:
    """A model's accuracy (1 - MAE as a share of the scale) and Pearson r per target
    beside the train-mean baseline."""
    target_set = _set(target_set)
    model, base = result["model"], result["baseline"]
    table = Table(
        title=f"{result['version']} on {result['split']} ({model['n']} clips)", title_justify="left"
    )
    counts = [m.get("n") for m in model["per_target"].values()]
    with_n = any(n is not None and n != model["n"] for n in counts)
    columns = ("target", *(("n",) if with_n else ()), "model acc", "baseline acc", "difference")
    for col in (*columns, "model r"):
        table.add_column(col, justify="right" if col != "target" else "left")
    for t in _ordered(target_set, model["per_target"]):
        m, b = model["per_target"][t.name], base["per_target"][t.name]
        table.add_row(
            t.title,
            *((str(m.get("n", "")),) if with_n else ()),
            _acc(m["accuracy"]),
            _acc(b["accuracy"]),
            _diff(m["accuracy"], b["accuracy"]),
            _r(m["pearson"]),
        )
    table.add_row(
        f"[bold]{mean_label(target_set)}[/]",
        *(("",) if with_n else ()),
        f"[bold]{_acc(model['mean_accuracy'])}[/]",
        _acc(base["mean_accuracy"]),
        _diff(model["mean_accuracy"], base["mean_accuracy"]),
        "",
    )
    return table


def coverage_line(intervals: dict[str, Any] | None, target_set: TargetSet | None = None) -> str:
    """Empirical coverage and mean width of a model's intervals, in one sentence."""
    if not intervals:
        return "intervals: this model was trained without calibration residuals; retrain it"
    target_set = _set(target_set)
    per = ", ".join(
        f"{t.title} {intervals['per_target'][t.name]['coverage']:.1%}"
        for t in _ordered(target_set, intervals["per_target"])
    )
    over = "5 traits" if target_set.builtin else "all targets"
    return (
        f"{intervals['level']:.0%} intervals: coverage {intervals['mean_coverage']:.1%} "
        f"({over}; {per}), mean width {intervals['mean_width']:.3f} on {intervals['n']} clips"
    )


def _ci(fig: dict[str, float | None], digits: int, signed: bool = False) -> str:
    """'0.085 [0.078, 0.092]', 'n/a' where there is no value."""
    value, low, high = fig.get("value"), fig.get("low"), fig.get("high")
    if value is None:
        return "n/a"
    fmt = f"{'+' if signed else ''}.{digits}f"
    if low is None or high is None:
        return f"{value:{fmt}}"
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def _styled(verdict: str) -> str:
    style = "green" if verdict == BEATS else "red" if verdict == WORSE else "yellow"
    return f"[{style}]{verdict}[/]"


def bootstrap_table(
    boot: dict[str, Any], target_set: TargetSet | None = None, title: str | None = None
) -> Table:
    """Per target: rated clips, MAE, the train-mean baseline's MAE, their difference
    (model - baseline; below 0 is better) and Pearson r, each with its bootstrap interval,
    and the verdict. `boot` is `uncertainty.bootstrap`'s result (unit space); MAE figures
    are shown on each target's declared scale."""
    target_set = _set(target_set)
    spans = {t.name: t.span for t in _ordered(target_set, boot["per_target"])}
    shown = on_scale(boot, spans)
    heading = (
        f"{boot['level']:.0%} bootstrap intervals ({boot['resamples']} resamples of "
        f"{boot['groups']} groups, {boot['n']} clips)"
    )
    table = Table(title=f"{title}: {heading}" if title else heading, title_justify="left")
    columns = ("target", "n", "MAE", "baseline MAE", "difference", "r", "verdict")
    for col in columns:
        table.add_column(col, justify="left" if col in ("target", "verdict") else "right")
    for t in _ordered(target_set, boot["per_target"]):
        fig, digits = shown["per_target"][t.name], mae_decimals(t)
        table.add_row(
            t.title,
            str(fig["n"]),
            _ci(fig["mae"], digits),
            _ci(fig["baseline_mae"], digits),
            _ci(fig["difference"], digits, signed=True),
            _ci(fig["pearson"], 2, signed=True),
            _styled(fig["verdict"]),
        )
    return table


def headline_line(boot: dict[str, Any], target_set: TargetSet | None = None) -> str:
    """The mean accuracy over the headline targets beside the baseline's, with intervals
    and the overall verdict, in one sentence."""
    head = boot["headline"]
    over = mean_label(target_set).removeprefix("mean ")
    return (
        f"mean accuracy {over}: {_ci(head['mean_accuracy'], 4)}; "
        f"train-mean baseline {_ci(head['baseline_mean_accuracy'], 4)}; "
        f"difference {_ci(head['difference'], 4, signed=True)}: {head['verdict']}"
    )


def baseline_statement(boot: dict[str, Any]) -> str | None:
    """The plain sentence for a model none of whose targets beats the train mean, else
    None."""
    if boot["beats"]:
        return None
    return NOT_INFORMATIVE.format(n=boot["n"])


def few_groups_statement(boot: dict[str, Any]) -> str | None:
    """The warning for figures resting on fewer than MIN_GROUPS groups, else None."""
    if boot.get("groups", MIN_GROUPS) >= MIN_GROUPS:
        return None
    return FEW_GROUPS.format(groups=boot["groups"], n=boot["n"], least=MIN_GROUPS)


def heads_statement(boots: Mapping[str, dict[str, Any]]) -> str | None:
    """The plain sentence when no head (of `boots`: head name -> `bootstrap` result on
    the same rows) beats the train mean on any target, else None."""
    if not boots or any(b["beats"] for b in boots.values()):
        return None
    return NO_HEAD.format(n=max(b["n"] for b in boots.values()))
