"""Find model files shipped inside installed packages, without importing the packages
(some import heavy or conflicting dependencies at import time)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, or None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, or None when the package or file is absent."""
    folder = package_dir(package)
    if folder is None:
        return None
    path = folder / relative
    return path if path.is_file() else None
