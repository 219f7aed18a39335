"""eenet: budgeted adaptive inference with multi-exit neural networks."""

__version__ = "0.1.0"
