"""The toolkit's shared demographic vocabulary.

Every importer maps its dataset's categories onto these values (keeping the
original value in a column of its own); a missing value is the explicit group
``unknown``, never a dropped row.
"""

UNKNOWN = "unknown"

DEMOGRAPHIC_COLUMNS = ("age_group", "gender", "ethnicity", "language")
"""Columns an audit slices by default (``age`` in years is binned into ``age_group``)."""

GENDERS = ("female", "male", "other")

LABEL_SOURCES = ("self_reported", "annotated", "inferred", "synthetic")
"""Allowed values of a ``<column>_source`` provenance column."""

SPLITS = ("train", "val", "test")
