"""Imports only run down the layers: read every module's imports with ast (nothing is
executed, lazy imports inside functions included) and fail on any upward arrow."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("storage", "migrations", "daemon")

# Bottom first. A module belongs to the layer of the longest prefix that names it (the
# bare package "daemon" names only its own __init__); a module may import from its own
# layer and the layers below it, never from above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("storage",),  # database, ORM models, state vocabulary, transitions, artifact files
    ("migrations",),  # Alembic: reads storage.models
    (  # foundations every feature may read
        "daemon",  # the package itself: its version only
        "daemon.errors",
        "daemon.logtext",  # names and paths in log lines, escaped to one line
        "daemon.config",
        "daemon.targets",  # target sets: names, scales, unit-space conversion
        "daemon.features",
        "daemon.packaged",
        "daemon.media",
        "daemon.model_cache",
        "daemon.netlock",
        "daemon.privacy",
        "daemon.sdnotify",
        "daemon.wakeup",
    ),
    (  # measures, labels, and the reports built from recorded outputs
        "daemon.audio",
        "daemon.visual",
        "daemon.labels",
        "daemon.video_record",
        "daemon.report",
        "daemon.results",  # rows for analysis: `lprd results`, the download, the API
        "daemon.api",  # `lprd.open(home)`: read-only, for notebooks
    ),
    ("daemon.text",),  # descriptions and datasets (read labels)
    ("daemon.learn",),  # training, prediction, the model registry (read text)
    ("daemon.stages",),  # the pipeline's stages: adapters from a StageContext to features
    ("daemon.pipeline", "daemon.runner"),  # the checked stage graph; running one stage
    (  # services that drive the pipeline
        "daemon.runtime",  # the daemon process, workers, inbox, scheduler, cluster, status
        "daemon.labels.service",  # label imports that re-queue stages
        "daemon.web",
    ),
    ("daemon.commands", "daemon.cli", "daemon.__main__"),  # the command line
)
EXACT_ONLY = {"daemon"}
# The one arrow allowed upward: the database finds the Alembic scripts to migrate with.
ALLOWED_UPWARD = {("storage.db", "migrations")}


def module_files() -> dict[str, Path]:
    """Every module of the project by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules a module imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            targets.update(submodules or {base})
    return {t for t in targets if t.split(".")[0] in PACKAGES}


def layer_of(module: str) -> int | None:
    """Index of the layer whose longest matching prefix names the module."""
    best: tuple[int, int] | None = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            below = prefix not in EXACT_ONLY and module.startswith(prefix + ".")
            if module == prefix or below:
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return best[1] if best else None


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a lower layer to a higher one, except the allowed ones."""
    arrows = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = layer_of(module), layer_of(target)
            if (module, target) in ALLOWED_UPWARD or low is None or high is None:
                continue  # unplaced modules fail test_every_module_has_a_layer
            if high > low:
                arrows.append(f"{module} (layer {low}) imports {target} (layer {high})")
    return arrows


def project_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in module_files() if layer_of(m) is None)
    assert not unplaced, f"add these modules to a layer in LAYERS: {unplaced}"
    assert layer_of("daemon.newcomer") is None  # a new top-level module must be placed


def test_no_import_runs_up_the_layers() -> None:
    graph = project_graph()
    assert graph["storage.db"] >= {"migrations"}  # the allowed arrow is really seen
    assert graph["daemon.runtime.worker"] >= {"daemon.runner", "storage.transitions"}
    arrows = upward_arrows(graph)
    assert not arrows, "imports that run up the layers:\n" + "\n".join(arrows)


def test_the_check_sees_lazy_and_relative_upward_imports(tmp_path) -> None:
    module = tmp_path / "late.py"
    module.write_text(
        "import storage.db\n\n\ndef f():\n    from ..pipeline import Pipeline\n"
        "    from daemon import cli\n"
    )
    known = {"daemon.pipeline", "daemon.cli", "storage.db"}
    graph = {"daemon.audio.late": imports_of("daemon.audio.late", module, known)}
    assert graph["daemon.audio.late"] == {"daemon.pipeline", "daemon.cli", "storage.db"}
    assert upward_arrows(graph) == [
        "daemon.audio.late (layer 3) imports daemon.cli (layer 9)",
        "daemon.audio.late (layer 3) imports daemon.pipeline (layer 7)",
    ]
    assert upward_arrows({"storage.videos": {"migrations"}}) != []


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (Tarjan's
    strongly connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            found = []
            while True:
                top = stack.pop()
                found.append(top)
                if top == module:
                    break
            if len(found) > 1:
                cycles.append(sorted(found))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    cycles = import_cycles(project_graph())
    assert not cycles, "modules that import each other (lazy imports count):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )
