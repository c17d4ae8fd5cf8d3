"""lprd's configuration, the bottom layer every other module may read.

One package holds every section, each a `Section` (base.py) in a module of its own:
core.py has the root `Config`, the daemon's own sections (paths, inbox, workers) and
`load_config`; audio.py, visual.py, describe.py and train.py have the feature sections.
Feature code receives only its own section (`config.audio`, `config.visual`...).
"""

from daemon.config.audio import AudioConfig
from daemon.config.base import Section
from daemon.config.core import (
    CONFIG_FILENAME,
    ENV_PREFIX,
    VIDEO_EXTENSIONS,
    Config,
    DatabaseConfig,
    InboxConfig,
    PathsConfig,
    WorkersConfig,
    load_config,
)
from daemon.config.describe import DescribeConfig
from daemon.config.train import TrainConfig
from daemon.config.visual import VisualConfig

__all__ = [
    "CONFIG_FILENAME",
    "ENV_PREFIX",
    "VIDEO_EXTENSIONS",
    "AudioConfig",
    "Config",
    "DatabaseConfig",
    "DescribeConfig",
    "InboxConfig",
    "PathsConfig",
    "Section",
    "TrainConfig",
    "VisualConfig",
    "WorkersConfig",
    "load_config",
]
