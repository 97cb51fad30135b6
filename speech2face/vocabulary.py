"""The toolkit's shared demographic vocabulary.

Every importer maps its dataset's categories onto these values (keeping the
original value in a column of its own); a missing value is the explicit group
``unknown``, never a dropped row.
"""

UNKNOWN = "unknown"

DEMOGRAPHIC_COLUMNS = ("age_group", "gender", "ethnicity", "language")
"""Columns an audit slices by default (``age`` in years is binned into ``age_group``)."""

MIN_GROUP_SPEAKERS = 30
"""Fewest speakers a group needs for an audit to test it (fewer: "insufficient evidence")."""

GENDERS = ("female", "male", "other")

LABEL_SOURCES = ("self_reported", "annotated", "inferred", "synthetic")
"""Allowed values of a ``<column>_source`` provenance column."""

SPLITS = ("train", "val", "test")

AGE_DECADES = ("<20", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
"""The paper's age classes (decades 10…70), the default binning of ``age`` into ``age_group``."""

AGE_DECADE_EDGES = (20, 30, 40, 50, 60, 70)
"""Edges (years): ``np.digitize(age, edges)`` indexes AGE_DECADES."""

SYNTHETIC_ETHNICITIES = ("group_a", "group_b", "group_c", "group_d")
"""Neutral names of the synthetic corpus's four ethnicity groups (no real population)."""
