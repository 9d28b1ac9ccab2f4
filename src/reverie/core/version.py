"""reverie's version (written into every run's config)."""

__version__ = "0.1.0"
