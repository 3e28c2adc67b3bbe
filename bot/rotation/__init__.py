"""Rotation of the data key and the ID-number hash key (``flask keys rotate-…``)."""
