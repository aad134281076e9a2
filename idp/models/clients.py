"""Agencies and the services (OpenID Connect clients) they register."""

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import JSON, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, db, utcnow
from ..security import matches

CLIENT_SECRET = "client-secret"


class Agency(db.Model):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name_fa: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    # active | suspended: a suspended agency registers nothing and its services were suspended with it
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    clients: Mapped[list["Client"]] = relationship(back_populates="agency")

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_fa


class Client(db.Model):
    """A relying-party service. Implements what Authlib's ClientMixin asks for."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    name_fa: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=lambda: ["authorization_code"])
    response_types: Mapped[list] = mapped_column(JSON, default=lambda: ["code"])
    scope: Mapped[str] = mapped_column(Text, default="openid")
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(500))
    subject_type: Mapped[str] = mapped_column(String(16), default="pairwise")
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    client_uri: Mapped[str | None] = mapped_column(String(500))
    logo_uri: Mapped[str | None] = mapped_column(String(500))
    description_fa: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    # how the service came in: operator (``idp clients add``), admin (console/API) or self-service (RFC 7591)
    registered_via: Mapped[str] = mapped_column(String(16), default="operator", server_default="operator")
    # RFC 7592: the keyed hash of the registration access token of a self-registered service
    registration_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    require_par: Mapped[bool] = mapped_column(default=False, server_default=false())
    default_acr_values: Mapped[list | None] = mapped_column(JSON)
    # pending | active | suspended | retired; only an active service signs citizens in
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="clients", lazy="joined")

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_fa

    def description(self, locale: str) -> str | None:
        """The public description in ``locale``, else in the other language, else None."""
        first, second = ((self.description_en, self.description_fa) if locale == "en"
                         else (self.description_fa, self.description_en))
        return first or second or None

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def sector(self) -> str:
        """The pairwise sector: the registered sector, else the redirect URIs' host."""
        if self.sector_identifier:
            return self.sector_identifier
        hosts = sorted({urlsplit(uri).hostname or "" for uri in self.redirect_uris})
        return hosts[0] if len(hosts) == 1 else self.client_id

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()

    # --- Authlib's ClientMixin ---
    @property
    def client_metadata(self) -> dict:
        return {"id_token_signed_response_alg": self.id_token_signed_response_alg,
                "post_logout_redirect_uris": self.post_logout_redirect_uris}

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # OpenID Connect requires redirect_uri in every request; never guess one
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        # exact string match, RFC 9700 section 4.1.3
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return matches(CLIENT_SECRET, client_secret, self.client_secret_hash)

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        return True

    def check_response_type(self, response_type):
        return response_type in self.response_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types
