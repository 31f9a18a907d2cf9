"""tracker: values and compares sovereign Bitcoin reserves."""

__version__ = "0.1.0"
