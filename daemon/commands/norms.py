"""`lprd norms rebuild|show`: the reference norms descriptions compare measurements with."""

from __future__ import annotations

import argparse

from daemon.commands._common import open_existing_db
from daemon.config import Config
from daemon.text import norms_build
from daemon.text.norms import load_norms


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("norms", help="show or rebuild the reference norms")
    cmds = parser.add_subparsers(dest="norms_command", metavar="ACTION", required=True)
    rebuild = cmds.add_parser(
        "rebuild",
        help="recompute the norms from every processed video in the database",
        description=norms_build.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rebuild.add_argument(
        "--min-clips",
        type=int,
        default=norms_build.MIN_CLIPS,
        help="fewest videos a norm is rebuilt from (default %(default)s)",
    )
    rebuild.add_argument("--dry-run", action="store_true", help="report, write nothing")
    rebuild.set_defaults(handler=handle_rebuild)
    show = cmds.add_parser("show", help="the norms in use: version, source and clips of each")
    show.set_defaults(handler=handle_show)


def handle_rebuild(args: argparse.Namespace, config: Config) -> int:
    """Rebuild HOME/norms.json and re-queue the descriptions that read it."""
    from daemon.pipeline import Pipeline
    from storage import transitions
    from storage.artifacts import ArtifactStore

    db = open_existing_db(config)
    try:
        videos = norms_build.collect(db, ArtifactStore(config.store_dir))
        rebuilt = norms_build.build(videos, max(1, args.min_clips))
        for name, n in rebuilt.replaced.items():
            print(f"{name}: rebuilt from {n} videos")
        for name, n in rebuilt.kept.items():
            print(f"{name}: shipped norm kept ({n} videos, fewer than {args.min_clips})")
        if args.dry_run:
            return 0
        path = norms_build.write(config.home_dir, rebuilt)
        pipeline = Pipeline.default()
        fingerprints = pipeline.fingerprints(config, db)
        with db.write() as session:
            requeued = transitions.requeue_changed_fingerprints(
                session, pipeline.plans, fingerprints
            )
    finally:
        db.dispose()
    version = load_norms(config.home_dir).version
    print(f"norms {version} ({path or 'shipped norms only'}); {requeued} stage runs re-queued")
    return 0


def handle_show(args: argparse.Namespace, config: Config) -> int:
    """Print each norm with its cuts and where they come from."""
    norms = load_norms(config.home_dir)
    print(f"norms version {norms.version}")
    for n in norms.norms.values():
        source = f"{n.clips} clips" if n.clips else "literature"
        print(f"{n.name:22} {n.quantity:26} cuts {list(n.cuts)} {n.unit} ({source})")
    return 0
