"""Models for the tuning app arrive with their issue."""
