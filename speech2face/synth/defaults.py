"""The synthetic corpus's default size, splits and face sizes (light: the CLI reads them)."""

FACE_SIZES = (64, 128)
DEFAULT_SPEAKERS = 800
DEFAULT_TEST_FRACTION = 0.15
DEFAULT_VAL_FRACTION = 0.1
