"""ftstudio: point-and-click fine-tuning of pretrained transformer models."""

__version__ = "0.1.0"
