"""gpool: one endpoint for the Gemini API in front of a pool of keys."""

__version__ = "0.1.0"

from gpool.app import create_app
from gpool.config import Config
from gpool.config_loader import ConfigError, load_config

__all__ = ["Config", "ConfigError", "__version__", "create_app", "load_config"]
