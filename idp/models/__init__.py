"""SQLAlchemy models. Import them from here."""

from .accounts import Account
from .admin import AdminAction, AppendOnlyError, InitialAccessToken, Proposal
from .audit import AuditEvent
from .clients import Agency, Client
from .factors import Authenticator, RecoveryCode
from .grants import AuthorizationCode, Consent, Token
from .registry import Citizen
from .sessions import LoginSession, LogoutNotice, SessionClient
from .store import KVEntry

__all__ = [
    "Account", "AdminAction", "Agency", "AppendOnlyError", "AuditEvent", "Authenticator", "AuthorizationCode", "Citizen", "Client",
    "Consent", "InitialAccessToken", "KVEntry", "LoginSession", "LogoutNotice", "Proposal", "RecoveryCode", "SessionClient", "Token",
]
