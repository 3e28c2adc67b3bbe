"""The authority registry: resident ID numbers, names, reference photos and their embeddings."""
