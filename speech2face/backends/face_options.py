"""What ``s2f faces`` reads and its defaults: plain constants, importable without the
``faces`` extra or numpy (the command line lists them in its help)."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")
DEFAULT_FPS = 1.0
"""Video frames analysed per second of video."""
DEFAULT_WORKERS = 1
"""Analysis processes: one, since ``s2f faces`` cannot know whether other cores are free."""
