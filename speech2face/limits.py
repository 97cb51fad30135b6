"""Bounds that options of every layer share, declared once."""

SEED_LIMIT = 2**32
"""Seeds are integers in ``[0, SEED_LIMIT)``: what numpy's and torch's generators take."""
