"""lprd: the LLM Personality Recognition Daemon.

Importing this package must stay cheap: no torch, pyannote, funasr or unsloth at import
time (`lprd status` and the watcher run without them).
"""

__version__ = "0.1.0"
