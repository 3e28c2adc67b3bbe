"""SQLAlchemy models, one table per module. Importing this package registers them all."""

from storage.models.app_session import AppSession
from storage.models.base import Base
from storage.models.citizen import Citizen
from storage.models.ephemeral import EphemeralEntry

__all__ = ["AppSession", "Base", "Citizen", "EphemeralEntry"]
