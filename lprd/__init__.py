"""lprd for notebooks: `lprd.open(home)` gives a read-only view of a home's videos,
predictions and measures (plain objects, or pandas DataFrames with `table()`).

    import lprd
    with lprd.open("~/lprd") as home:
        df = home.table(measures=True)
        hiring = home.table(set="hiring")  # a study's target set, on its declared scales

The daemon itself is the `daemon` package; this module only re-exports its API.
"""

from daemon.api import Home, PredictionInfo, VideoInfo, open
from daemon.results import Column
from daemon.targets import Target, TargetSet

__all__ = ["Column", "Home", "PredictionInfo", "Target", "TargetSet", "VideoInfo", "open"]
