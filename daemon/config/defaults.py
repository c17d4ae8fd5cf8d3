"""The documented default config file, rendered from the config models themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from daemon.config import Config

HEADER = """\
# lprd configuration. Every setting is shown with its default; uncomment to change.
# Environment variables override this file: LPRD_SECTION__FIELD=value
# (e.g. LPRD_WORKERS__CPU=4). Invalid values stop lprd with a message naming the field.
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        return '""  # unset'
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _section_lines(model: BaseModel) -> tuple[list[str], list[tuple[str, BaseModel]]]:
    lines, sections = [], []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            sections.append((name, value))
            continue
        if field.description:
            lines.append(f"# {field.description}")
        lines.append(f"# {name} = {_toml_value(value)}")
    return lines, sections


def render_default_config(home: Path) -> str:
    """TOML text with every field commented out at its default, plus `home` set."""
    config = Config(home=home)
    top, sections = _section_lines(config)
    out = [
        HEADER,
        *[line if not line.startswith("# home =") else f'home = "{home}"' for line in top],
    ]
    for name, section in sections:
        lines, _ = _section_lines(section)
        out += ["", f"[{name}]", *lines]
    return "\n".join(out) + "\n"
