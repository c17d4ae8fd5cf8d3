"""Seven-class facial expression classifier: the `facex` model run with LiteRT.

`facex` ships `model_optimized.tflite` (a 200x200 input CNN) but imports all of
tensorflow to run it. Only the file is used here (found with importlib, the package
is never imported); `ai-edge-litert`'s interpreter runs it, as facex itself would,
on a grey face crop repeated over three channels and scaled to 0..1.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from daemon.packaged import package_file

# The order of the model's outputs, as facex declares it.
CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprised")
MODEL_PACKAGE = "facex"
MODEL_FILE = "assets/model_optimized.tflite"


def model_path() -> Path | None:
    """The packaged expression model, or None if `facex` is not installed."""
    return package_file(MODEL_PACKAGE, MODEL_FILE)


def runtime_available() -> bool:
    """True when the LiteRT interpreter can be imported."""
    return importlib.util.find_spec("ai_edge_litert") is not None


class ExpressionClassifier:
    """A LiteRT interpreter for the expression model; thread-safe through a lock."""

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        inp = self._interpreter.get_input_details()[0]
        self._input = inp["index"]
        self._size = (int(inp["shape"][2]), int(inp["shape"][1]))  # (width, height)
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()

    def classify(self, grey_face: np.ndarray) -> dict[str, float]:
        """Class probabilities for one grey uint8 face crop."""
        import cv2

        face = cv2.resize(grey_face, self._size, interpolation=cv2.INTER_AREA)
        x = np.repeat((face.astype(np.float32) / 255.0)[None, :, :, None], 3, axis=3)
        with self._lock:
            self._interpreter.set_tensor(self._input, x)
            self._interpreter.invoke()
            out = np.array(self._interpreter.get_tensor(self._output)[0], dtype=np.float64)
        total = out.sum()
        # The model ends in a softmax; renormalise only to absorb rounding.
        probs = out / total if total > 0 else out
        return {name: round(float(p), 4) for name, p in zip(CLASSES, probs, strict=True)}
