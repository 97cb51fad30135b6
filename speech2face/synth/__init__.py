"""The embedded synthetic voice–face corpus with known, plantable bias."""
