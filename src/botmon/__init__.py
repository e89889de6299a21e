"""botmon: a Botnet Monitoring System for peer-to-peer botnets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("botmon")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
