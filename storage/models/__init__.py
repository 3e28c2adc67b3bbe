"""SQLAlchemy models, one table per module. Importing this package registers them all."""

from storage.models.app_session import AppSession
from storage.models.audit_chain import AuditChainHead
from storage.models.audit_seal import AuditSeal
from storage.models.base import Base
from storage.models.bill import Bill
from storage.models.card_event import CardEvent
from storage.models.citizen import Citizen
from storage.models.citizen_event import CitizenEvent
from storage.models.credential import Credential
from storage.models.credential_password import CredentialPassword
from storage.models.credential_takeover import CredentialTakeover
from storage.models.device_key import DeviceKey
from storage.models.ephemeral import EphemeralEntry
from storage.models.follower import Follower
from storage.models.lost_card_report import LostCardReport
from storage.models.merchant import Merchant
from storage.models.outbox import OutboxMessage
from storage.models.payment_agency import PaymentAgency
from storage.models.payment_item import PaymentItem
from storage.models.payment_order import PaymentOrder
from storage.models.payment_refund import PaymentRefund
from storage.models.reference_embedding import ReferenceEmbedding
from storage.models.registry_record import RegistryRecord
from storage.models.signing_key import SigningKey
from storage.models.terminal import Terminal
from storage.models.verification_audit import VerificationAudit

__all__ = [
    "AppSession",
    "AuditChainHead",
    "AuditSeal",
    "Base",
    "Bill",
    "CardEvent",
    "Citizen",
    "CitizenEvent",
    "Credential",
    "CredentialPassword",
    "CredentialTakeover",
    "DeviceKey",
    "EphemeralEntry",
    "Follower",
    "LostCardReport",
    "Merchant",
    "OutboxMessage",
    "PaymentAgency",
    "PaymentItem",
    "PaymentOrder",
    "PaymentRefund",
    "ReferenceEmbedding",
    "RegistryRecord",
    "SigningKey",
    "Terminal",
    "VerificationAudit",
]
