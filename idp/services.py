"""The container of adapters and services, built once in the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .adapters.registry import CivilRegistry, MobileOwnership, create_ownership, create_registry
from .adapters.sms import SmsSender, create_sender
from .adapters.store import KeyValueStore, create_store
from .auth.otp import OtpService
from .auth.sessions import SessionService
from .config import Settings
from .interaction.flow import Interactions
from .signing import KeyStore


@dataclass
class Services:
    settings: Settings
    store: KeyValueStore
    keys: KeyStore
    sms: SmsSender
    registry: CivilRegistry
    ownership: MobileOwnership
    otp: OtpService
    sessions: SessionService
    interactions: Interactions
    server: object = None  # the authorization server, attached by the app factory
    limits: object = None  # the abuse limits, attached by the app factory (they need Flask-Limiter)
    limiter: object = None

    @classmethod
    def build(cls, settings: Settings) -> "Services":
        from .oauth.tokens import NEAR_CACHED

        store = create_store(settings.redis_url, near=NEAR_CACHED)
        registry = create_registry(settings)
        sms = create_sender(settings)
        return cls(
            settings=settings,
            store=store,
            keys=KeyStore(settings.keys_dir),
            sms=sms,
            registry=registry,
            ownership=create_ownership(settings, registry),
            otp=OtpService(store, sms, ttl=settings.otp_ttl,
                           max_attempts=settings.otp_max_attempts, resend_after=settings.otp_resend_after),
            sessions=SessionService(settings.session_idle_timeout, settings.session_absolute_timeout),
            interactions=Interactions(store, settings.interaction_ttl),
        )


def services() -> Services:
    return current_app.extensions["panjereh"]
