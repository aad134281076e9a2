"""SQLAlchemy models. Import them from here."""

from .accounts import Account
from .audit import AuditEvent
from .clients import Agency, Client
from .factors import Authenticator, RecoveryCode
from .grants import AuthorizationCode, Consent, Token
from .registry import Citizen
from .sessions import LoginSession, LogoutNotice, SessionClient
from .store import KVEntry

__all__ = [
    "Account", "Agency", "AuditEvent", "Authenticator", "AuthorizationCode", "Citizen", "Client",
    "Consent", "KVEntry", "LoginSession", "LogoutNotice", "RecoveryCode", "SessionClient", "Token",
]
