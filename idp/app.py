"""create_app(): the one composition root."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, g, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import rendering
from .auth.limits import AbuseLimits, LimitSettings  # also registers the panjereh+kv:// limits storage
from .config import INSTANCE_DIR, Settings, load_secret_key
from .db import db, ping_when_idle
from .services import Services
from .web_request import Request
from .web_session import ServerSessionInterface

LOCALES = ("fa", "en")
MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")

babel = Babel()
csrf = CSRFProtect()
log = logging.getLogger(__name__)


def select_locale() -> str:
    """The interaction's ui_locales, else the citizen's choice, else the default (Persian)."""
    chosen = getattr(g, "ui_locale", None) or session.get("lang")
    if chosen in LOCALES:
        return chosen
    return g.get("default_locale", "fa")


def create_app(settings: Settings | None = None, *, migrations: bool = True) -> Flask:
    """The app. ``migrations=False``: without the schema tools (Alembic through Flask-Migrate, about
    11 MB), for server workers, which never migrate: ``idp setup`` does, before they start."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(INSTANCE_DIR.resolve()))
    app.request_class = Request
    app.config.update(
        SECRET_KEY=load_secret_key(settings),
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SESSION_COOKIE_NAME="panjereh_session",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    if settings.trusted_proxies:
        # the citizen's own address (rate limits, audit) from the load balancers' X-Forwarded-* headers
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_port=0)
    db.init_app(app)
    if not settings.database_url.startswith("sqlite"):
        with app.app_context():
            ping_when_idle(db.engine)
    if migrations:
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS)
    babel.init_app(app, locale_selector=select_locale)
    rendering.install(app)
    from .views.errors import refuse_plain_http

    app.before_request(refuse_plain_http)  # first: before the CSRF check or anything else reads the request
    csrf.init_app(app)

    services = Services.build(settings)
    app.extensions["panjereh"] = services
    limits_storage = settings.redis_url or "panjereh+kv://"
    limiter = Limiter(get_remote_address, app=app, enabled=settings.rate_limits, headers_enabled=True,
                      storage_uri=limits_storage, strategy="fixed-window", key_prefix="panjereh")
    services.limiter = limiter  # Flask-Limiter holds only weak references to itself
    counter = FixedWindowRateLimiter(storage_from_string(limits_storage))
    services.limits = AbuseLimits(counter, services.store, LimitSettings(
        settings.limit_national_id, settings.limit_mobile, settings.limit_mobile_daily, settings.limit_ip_range,
        settings.lockout_after, settings.lockout_window, settings.lockout_for), enabled=settings.rate_limits)
    from .views.interaction import read_ahead

    app.session_interface = ServerSessionInterface(
        services.store, app.config["SESSION_COOKIE_NAME"], settings.session_absolute_timeout, read_ahead=read_ahead)

    from .oauth import create_server
    from .oauth.logout import Courier, EndSessionEndpoint, on_session_end
    from .oauth.userinfo import UserInfoEndpoint

    with app.app_context():
        server = services.server = create_server(app, settings, services.keys, services.store)
        server.registry = services.registry
        server.register_endpoint(UserInfoEndpoint(server))
        server.register_endpoint(EndSessionEndpoint(server))
    courier = app.extensions["panjereh.courier"] = Courier(app, allow_private=not settings.secure_cookies)

    def notify_services(login):
        if on_session_end(server, login):
            courier.kick()

    services.sessions.on_end.append(notify_services)

    def sms_failed(to: str, error: str | None) -> None:
        from .audit import Event, record
        from .text import mask_mobile

        with app.app_context():
            record(Event.OTP_SEND_FAILED, "fail", to=mask_mobile(to), error=error)

    if hasattr(services.sms, "on_failure"):  # a gateway that delivers in the background reports failures
        services.sms.on_failure = sms_failed

    from .views import register_views

    register_views(app)
    # per-IP limits on the steps that send or check codes (POST only)
    for endpoint, limit in (("interaction.identify", settings.limit_login_ip),
                            ("interaction.resend", settings.limit_login_ip),
                            ("interaction.verify", settings.limit_verify_ip)):
        app.view_functions[endpoint] = limiter.limit(limit, methods=["POST"])(app.view_functions[endpoint])
    if not settings.rate_limits:
        log.warning("IDP_RATE_LIMITS=off: abuse rate limits are disabled (per-challenge limits still apply)")
    return app


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # several workers share one file: wait for the writer instead of failing
        return {"connect_args": {"timeout": 30}}
    return {}  # connections are checked after they rest, not at every checkout: see db.ping_when_idle
