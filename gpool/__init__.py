"""gpool: one endpoint for the Gemini API in front of a pool of keys."""

__version__ = "0.1.0"
