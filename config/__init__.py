"""Tunix RT project configuration."""

# The product's own version, frozen into every model version's provenance.
__version__ = "0.1.0"
