"""The range of a model's training inputs, and a check that says when an input lies outside.

A model fitted on First Impressions clips (15 s, 0-85 transcript words, English) has never
seen a 4-minute interview with 586 words, nor a Chinese transcript: its scores for such
an input are an extrapolation, and its conformal intervals, calibrated on rows like the
training rows, no longer cover at their nominal level. Every saved model therefore keeps
`input_range.json` (plus `input_range.npy` for heads with a text encoder), recorded from
the descriptions it was fitted on:

- the transcript's word count (minimum, 1st and 99th percentile, maximum), read from the
  "What was said (..., N words ...):" line the description template writes (0 when it says
  nothing was said);
- the transcript languages: those the descriptions state (automatic transcripts), plus the
  languages assumed at training time for descriptions that state none (official First
  Impressions transcripts: English);
- the range of every measurement the description states outside the quote, read with the
  numeric head's own parser (`daemon.learn.heads.numeric.measures`; the transcript section's are
  left to the word count); the video's duration is one, and only it is checked when every
  training video had the same value (a constant column carries no weight in any head);
- for the ridge heads with an encoder, up to 2,000 of the training rows' unit vectors
  (float16) and the 99th percentile of their leave-one-out nearest-neighbour cosine
  distance (times a small margin, `DISTANCE_MARGIN`).

`check(range, text, vector, language)` returns one `Flag` per way the input lies outside,
each with a reason in words, e.g. "transcript 586 words; training transcripts 0-85 words".
A word count or measurement counts as outside when it lies beyond the training minimum or
maximum by more than `MEASURE_SLACK` of the training span (a new clip from the training
distribution lands beyond the extremes of N rows with probability about 2 / N, so each
measure gets a little room). A transcript the text says or `language` gives is in another
language, or one the English guess rejects even when it is said to be English (an
English-only ASR model says so of any speech) (`guess_not_english`: mostly non-Latin
letters, under 5 % common English words among 15 or more, or more common Spanish, French,
German, Italian or Portuguese words than English ones), is flagged when the model's
training transcripts were English; none of the 8,000 First Impressions transcripts is.

Interval policy (`withhold_intervals`): a flagged prediction's intervals are withheld, not
widened. Split-conformal coverage holds only for inputs exchangeable with the calibration
rows; outside the training range no finite widening is calibrated, and the whole score
range [0, 1] would look like a result while saying nothing. The scores are still given,
with the flags, and the intervals become None with `interval_withheld_because` set to the
joined reasons.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RANGE_FILE = "input_range.json"
VECTORS_FILE = "input_range.npy"
FORMAT_VERSION = 1
MAX_REFERENCE_ROWS = 2000
DISTANCE_QUANTILE = 0.99
# The 99th percentile of leave-one-out distances flags about 1 % of rows like the training
# rows by construction; the margin keeps ordinary validation clips inside.
DISTANCE_MARGIN = 1.1
MEASURE_SLACK = 0.1  # room beyond the training extremes, as a share of the training span
MIN_MEASURE_ROWS = 20  # a measurement fewer training rows stated is not checked
DEFAULT_LANGUAGES = ("English",)
# The order `check` lists flags in: the plainest reasons first, single measurements last.
ORDER = ("language", "transcript_length", "duration", "encoder_distance")
ENGLISH_MIN_WORDS = 15
ENGLISH_MIN_SHARE = 0.05  # FI transcripts of 12+ words: at least 7.7 % common English words
NON_LATIN_SHARE = 0.5

_WORD_COUNT = re.compile(r"(?<![\d.])(\d+) words?\b")
_NOTHING_SAID = re.compile(r"^What was said: nothing\b", re.MULTILINE)
_LETTERS = re.compile(r"[^\W\d_]+")
ENGLISH_WORDS = frozenset(
    "the a an and or but of to in on at for with is are was were be been i you he she it we "
    "they me my your this that what so not no do don't have has had just like if as about "
    "all can will would there their them".split()
)
# Function words of Spanish, French, German, Italian and Portuguese that English lacks.
OTHER_WORDS = frozenset(
    "de la el los las que y en un una por con para es del se lo como más pero su les des et "
    "est une pas je il nous vous qui dans ce cette und der das ist nicht ich sie wir mit auf "
    "für dem zu ein eine che di non per sono e o não um uma os".split()
)
OTHER_MIN_SHARE = 0.15


@dataclass(frozen=True)
class Flag:
    """One way an input lies outside a model's training range, with the reason in words.

    `kind`: "transcript_length", "duration", "measure:<numeric feature name>",
    "encoder_distance" or "language".
    """

    kind: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """{"kind": ..., "reason": ...}."""
        return {"kind": self.kind, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Flag:
        """The flag `to_json` wrote."""
        return cls(str(data["kind"]), str(data["reason"]))


@dataclass(frozen=True)
class Span:
    """The spread of one quantity over the training rows."""

    lo: float
    hi: float
    p01: float
    p99: float
    rows: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Span:
        """Minimum, maximum, 1st and 99th percentile of `values` (not empty)."""
        ordered = sorted(values)
        return cls(
            ordered[0], ordered[-1], _quantile(ordered, 0.01), _quantile(ordered, 0.99), len(values)
        )

    def outside(self, value: float) -> bool:
        """Whether `value` lies beyond the extremes by more than MEASURE_SLACK of the span."""
        room = MEASURE_SLACK * (self.hi - self.lo) + 1e-9
        return value < self.lo - room or value > self.hi + room


@dataclass
class EncoderRange:
    """Training rows' unit vectors (a subset) and the nearest-neighbour distance limit."""

    threshold: float  # cosine distance; DISTANCE_MARGIN times the quantile below
    quantile_distance: float  # DISTANCE_QUANTILE of leave-one-out nearest-neighbour distance
    rows: int  # training rows the reference was drawn from
    vectors: Any = field(repr=False, default=None)  # (kept rows, dim) float16, unit length

    @classmethod
    def fit(cls, vectors: Any, seed: int = 0) -> EncoderRange:
        """The reference of a (rows, dim) matrix of training vectors (normalised here)."""
        import numpy as np

        unit = _unit(np.asarray(vectors, dtype=np.float32))
        rng = np.random.default_rng(seed)
        if len(unit) > MAX_REFERENCE_ROWS:
            unit = unit[np.sort(rng.choice(len(unit), MAX_REFERENCE_ROWS, replace=False))]
        kept = unit.astype(np.float16)
        distances = _leave_one_out(kept.astype(np.float32))
        quantile = float(np.quantile(distances, DISTANCE_QUANTILE)) if len(distances) else 0.0
        return cls(quantile * DISTANCE_MARGIN, quantile, len(vectors), kept)

    def nearest(self, vector: Any) -> float:
        """Cosine distance from `vector` to the nearest kept training row."""
        import numpy as np

        unit = _unit(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        return float(1.0 - (self.vectors.astype(np.float32) @ unit).max())


@dataclass
class InputRange:
    """What a model's training inputs looked like; see the module docstring."""

    rows: int
    words: Span | None = None
    languages: list[str] = field(default_factory=lambda: list(DEFAULT_LANGUAGES))
    measures: dict[str, Span] = field(default_factory=dict)
    encoder: EncoderRange | None = None
    version: int = FORMAT_VERSION

    @classmethod
    def from_texts(
        cls,
        texts: Sequence[str],
        vectors: Any = None,
        assumed_languages: Sequence[str] = DEFAULT_LANGUAGES,
    ) -> InputRange:
        """The range of the training descriptions `texts` (and their encoder `vectors`)."""
        counts = [n for n in map(word_count, texts) if n is not None]
        stated = [stated_language(t) for t in texts]
        languages = {lang for lang in stated if lang}
        if any(lang is None and word_count(t) for lang, t in zip(stated, texts, strict=True)):
            languages |= set(assumed_languages)
        encoder = None
        if vectors is not None and len(vectors) > 1:
            encoder = EncoderRange.fit(vectors)
        return cls(
            rows=len(texts),
            words=Span.of(counts) if counts else None,
            languages=sorted(languages or assumed_languages),
            measures=_measure_spans(texts),
            encoder=encoder,
        )

    def save(self, folder: Path) -> None:
        """input_range.json, and input_range.npy with the encoder reference's vectors."""
        import numpy as np

        data = asdict(self)
        if self.encoder is not None:
            data["encoder"].pop("vectors")
            np.save(Path(folder) / VECTORS_FILE, self.encoder.vectors)
        (Path(folder) / RANGE_FILE).write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, folder: Path) -> InputRange | None:
        """The range saved with a model, or None for a model saved before ranges were kept."""
        path = Path(folder) / RANGE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        encoder = None
        if data.get("encoder") and (Path(folder) / VECTORS_FILE).exists():
            import numpy as np

            vectors = np.load(Path(folder) / VECTORS_FILE)
            encoder = EncoderRange(**data["encoder"], vectors=vectors)
        return cls(
            rows=int(data["rows"]),
            words=Span(**data["words"]) if data.get("words") else None,
            languages=list(data.get("languages") or DEFAULT_LANGUAGES),
            measures={k: Span(**v) for k, v in (data.get("measures") or {}).items()},
            encoder=encoder,
            version=int(data.get("version", FORMAT_VERSION)),
        )


def load(folder: Path) -> InputRange | None:
    """`InputRange.load`: None for a model folder without input_range.json."""
    return InputRange.load(folder)


# --- reading a description ------------------------------------------------------------


def _quote_match(text: str) -> re.Match | None:
    from daemon.learn.text_features import QUOTE

    return QUOTE.search(text)


def word_count(text: str) -> int | None:
    """The transcript's word count the description states ("What was said (..., N words"),
    the quoted words counted when it states none, 0 when it says nothing was said, and None
    when the description has no transcript section at all."""
    match = _quote_match(text)
    if match is not None:
        stated = _WORD_COUNT.search(match["details"])
        return int(stated[1]) if stated else len(match["quote"].split())
    if _NOTHING_SAID.search(text):
        return 0
    return None


def stated_language(text: str) -> str | None:
    """The transcript language the description names ("automatic transcript, English, ..."),
    as a language name; None when it names none."""
    from daemon.text.sections import LANGUAGES

    match = _quote_match(text)
    if match is None:
        return None
    names = set(LANGUAGES.values())
    for item in re.split(r"[,;]", match["details"]):
        item = item.strip()
        if item in names:
            return item
        if item.isalpha() and item.islower() and 2 <= len(item) <= 3:
            return LANGUAGES.get(item, item)  # a code the template had no name for
    return None


def guess_not_english(text: str) -> str | None:
    """Why the quoted transcript looks like another language than English, or None.

    Mostly non-Latin letters (CJK, Cyrillic, Arabic...); among 15 or more words, under 5 %
    of the commonest English words (every First Impressions transcript of 12 or more words
    has 7.7 % or more); or among 7 or more, at least 15 % function words of Spanish, French,
    German, Italian or Portuguese and more of them than English ones (First Impressions
    transcripts: at most 9.4 %)."""
    match = _quote_match(text)
    if match is None:
        return None
    quote = match["quote"]
    letters = "".join(_LETTERS.findall(quote))
    if letters:
        scripts = [_script(c) for c in letters]
        foreign = [s for s in scripts if s != "LATIN"]
        if len(foreign) > NON_LATIN_SHARE * len(scripts):
            script = max(set(foreign), key=foreign.count)
            return f"mostly {script if len(script) <= 3 else script.title()} letters"
    words = [w.strip('.,!?;:"()').lower() for w in quote.split()]
    words = [w.replace("\u2019", "'") for w in words if w]
    english = sum(w in ENGLISH_WORDS for w in words) / max(1, len(words))
    other = sum(w in OTHER_WORDS for w in words) / max(1, len(words))
    few_english = len(words) >= ENGLISH_MIN_WORDS and english < ENGLISH_MIN_SHARE
    other_words = len(words) >= ENGLISH_MIN_WORDS // 2 and other >= OTHER_MIN_SHARE
    if few_english or (other_words and other > english):
        return (
            f"{english:.0%} common English words, {other:.0%} Spanish, French, German, "
            f"Italian or Portuguese function words, of {len(words)} words"
        )
    return None


def _script(char: str) -> str:
    try:
        return unicodedata.name(char).split()[0]
    except ValueError:
        return "UNKNOWN"


def _measure_spans(texts: Sequence[str]) -> dict[str, Span]:
    """The spread of every measurement (numeric head's names) stated in enough rows."""
    from daemon.learn.heads.numeric import measures

    seen: dict[str, list[float]] = {}
    for text in texts:
        for name, value in measures(text).items():
            if not name.startswith("transcript|"):  # the word count has its own check
                seen.setdefault(name, []).append(value)
    return {k: Span.of(v) for k, v in sorted(seen.items()) if len(v) >= MIN_MEASURE_ROWS}


def is_duration(name: str) -> bool:
    """Whether a numeric-head feature name is the video's duration ("The video lasts 15.3 s")."""
    section, _label, before, unit = (name.split("#")[0].split("|") + ["", "", ""])[:4]
    return section == "video" and before.endswith("video lasts") and unit == "s"


def measure_label(name: str) -> str:
    """A numeric-head feature name in words: 'voice|pitch|mean|hz' -> 'pitch mean (hz)'."""
    section, label, before, unit = (name.split("#")[0].split("|") + ["", "", ""])[:4]
    words = " ".join(p for p in (label or section, before) if p)
    return f"{words} ({unit})" if unit else words


# --- the check ------------------------------------------------------------------------


def check(
    input_range: InputRange | None,
    text: str,
    vector: Any = None,
    language: str | None = None,
) -> list[Flag]:
    """Every way the description `text` (with its encoder `vector` and the transcript
    `language`, a code or a name, where the caller knows them) lies outside the training
    range; [] for a model without a recorded range."""
    if input_range is None:
        return []
    flags = _word_flags(input_range, text)
    flags += _language_flags(input_range, text, language)
    flags += _measure_flags(input_range, text)
    if vector is not None and input_range.encoder is not None:
        flags += _encoder_flags(input_range.encoder, vector)
    return sorted(flags, key=lambda f: ORDER.index(f.kind) if f.kind in ORDER else len(ORDER))


def _word_flags(input_range: InputRange, text: str) -> list[Flag]:
    words, span = word_count(text), input_range.words
    if words is None or span is None or not span.outside(words):
        return []
    trained = f"{_num(span.lo)}-{_num(span.hi)} words"
    reason = f"transcript {words} words; training transcripts {trained}"
    return [Flag("transcript_length", reason)]


def _language_flags(input_range: InputRange, text: str, language: str | None) -> list[Flag]:
    from daemon.text.sections import LANGUAGES

    trained = ", ".join(input_range.languages)
    named = LANGUAGES.get(language, language) if language else stated_language(text)
    if named and named.lower() not in ("auto", "unknown", "none", "nospeech"):
        if not word_count(text):
            return []
        if named not in input_range.languages:
            return [Flag("language", f"language {named}; training transcripts {trained}")]
    # No language named, or one the model was trained on: an English-only ASR model says
    # "English" of any speech, so the words themselves are checked too.
    if input_range.languages != ["English"]:
        return []
    why = guess_not_english(text)
    if why is None:
        return []
    return [Flag("language", f"language not English ({why}); training transcripts {trained}")]


def _measure_flags(input_range: InputRange, text: str) -> list[Flag]:
    from daemon.learn.heads.numeric import measures

    flags = []
    for name, value in measures(text).items():
        span = input_range.measures.get(name)
        if span is None or not span.outside(value):
            continue
        if span.hi <= span.lo and not is_duration(name):
            continue  # constant in training: no ridge weight, no head learned from it
        if is_duration(name):
            reason = f"duration {value:.1f} s; training videos {span.lo:.1f}-{span.hi:.1f} s"
            flags.append(Flag("duration", reason))
        else:
            what = measure_label(name)
            reason = f"{what} {_num(value)}; training videos {_num(span.lo)} to {_num(span.hi)}"
            flags.append(Flag(f"measure:{name}", reason))
    return flags


def _encoder_flags(encoder: EncoderRange, vector: Any) -> list[Flag]:
    distance = encoder.nearest(vector)
    if distance <= encoder.threshold:
        return []
    reason = (
        f"encoder distance {distance:.2f} to the nearest training row; "
        f"{DISTANCE_QUANTILE * 100:.0f} % of training rows lie within "
        f"{encoder.quantile_distance:.2f}, flagged beyond {encoder.threshold:.2f}"
    )
    return [Flag("encoder_distance", reason)]


# --- intervals ------------------------------------------------------------------------


def withhold_intervals(
    intervals: Mapping[str, Any] | None, flags: Sequence[Flag]
) -> tuple[Mapping[str, Any] | None, str | None]:
    """(intervals, interval_withheld_because): the intervals unchanged and None when
    nothing is flagged, else None and the flags' reasons (see the module docstring)."""
    if not flags:
        return intervals, None
    return None, "the input lies outside the model's training range: " + "; ".join(
        f.reason for f in flags
    )


def flags_to_json(flags: Iterable[Flag]) -> list[dict[str, str]]:
    """Flags as a JSON-ready list."""
    return [f.to_json() for f in flags]


def flags_from_json(data: Iterable[Mapping[str, Any]] | None) -> list[Flag]:
    """The flags `flags_to_json` wrote ([] for None)."""
    return [Flag.from_json(item) for item in data or ()]


# --- encoder vectors ------------------------------------------------------------------


def training_vectors(model: Any, texts: Sequence[str]) -> Any:
    """The encoder vectors of `texts` under `model` (a ridge head with an encoder), else None."""
    from daemon.learn.heads.ridge import RidgeModel

    if isinstance(model, RidgeModel):
        return model.vectors(texts)
    return None


def input_vectors(predictor: Any, texts: Sequence[str]) -> Any:
    """The encoder vectors `check` compares with a model's training rows, one row per text
    in one pass: the ridge head's own vectors, or for a blend those of its non-LLM part
    (loaded by the blend's predict, else here); None for heads without an encoder."""
    from daemon.learn.heads.blend import BlendModel

    if isinstance(predictor, BlendModel):
        loaded = predictor._loaded  # noqa: SLF001 - the parts the blend already loaded
        predictor = loaded[0] if loaded else predictor.loader(predictor.parts[0])
    return training_vectors(predictor, texts)


def input_vector(predictor: Any, text: str) -> Any:
    """`input_vectors` of one text."""
    vectors = input_vectors(predictor, [text])
    return None if vectors is None else vectors[0]


def record(folder: Path, model: Any, texts: Sequence[str]) -> InputRange:
    """Save the range of the training descriptions `texts` beside `model` in `folder`.

    A blend takes the encoder reference of its non-LLM part (parts/0, fitted on the same
    rows), so that the blend's check matches `input_vector`."""
    vectors = training_vectors(model, texts)
    input_range = InputRange.from_texts(texts, vectors)
    part = load(Path(folder) / "parts" / "0")
    if vectors is None and part is not None:
        input_range.encoder = part.encoder
    input_range.save(folder)
    return input_range


# --- helpers --------------------------------------------------------------------------


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The linearly interpolated `q` quantile of sorted values."""
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def _unit(matrix: Any) -> Any:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 1e-12, norms, 1.0)


def _leave_one_out(unit: Any) -> Any:
    """Each row's cosine distance to its nearest other row."""
    import numpy as np

    if len(unit) < 2:
        return np.zeros(0)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return 1.0 - similarity.max(axis=1)


def _num(value: float) -> str:
    """A number as the description writes it: no decimals when whole."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
