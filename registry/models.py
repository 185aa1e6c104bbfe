"""Models for the registry app arrive with their issue."""
