"""SQLAlchemy models, one table per module. Importing this package registers them all."""

from storage.models.base import Base
from storage.models.ephemeral import EphemeralEntry

__all__ = ["Base", "EphemeralEntry"]
