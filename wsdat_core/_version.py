"""The package version, in a leaf module every layer may import (the root re-exports the runtime)."""

__version__ = "0.1.0"
