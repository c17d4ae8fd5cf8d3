"""Word error rate (jiwer) after a light English normalisation: case, punctuation,
contractions and fillers, applied alike to the reference and the hypothesis."""

from __future__ import annotations

import jiwer

FILLERS = ["uh", "um", "hmm", "mm", "ah", "er"]
SPOKEN_FORMS = {"gonna": "going to", "wanna": "want to", "okay": "ok", "cannot": "can not"}

NORMALISE = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.SubstituteRegexes({"’": "'", r"[-/]": " "}),
        jiwer.ExpandCommonEnglishContractions(),
        jiwer.SubstituteWords(SPOKEN_FORMS),
        jiwer.RemovePunctuation(),
        jiwer.RemoveSpecificWords(FILLERS),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word errors, reference words) after normalisation."""
    ref_words = NORMALISE(reference)[0] if reference.strip() else []
    if not ref_words:
        hyp_words = NORMALISE(hypothesis)[0] if hypothesis.strip() else []
        return len(hyp_words), 0  # every hypothesis word is an insertion
    out = jiwer.process_words(
        reference, hypothesis, reference_transform=NORMALISE, hypothesis_transform=NORMALISE
    )
    return out.substitutions + out.deletions + out.insertions, len(ref_words)
