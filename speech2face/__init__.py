"""Speech2Face in PyTorch: audio front end, models, training, prediction, datasets."""

__version__ = "0.1.0"
