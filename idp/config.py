"""Every setting of the provider, declared once: typed, defaulted, validated at start.

Operators set them as ``IDP_*`` environment variables; tests pass overrides to
``create_app(settings)``. Nothing else in the package reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse as parse_limit

INSTANCE_DIR = Path(os.environ.get("IDP_INSTANCE_DIR", "instance"))


class ConfigError(ValueError):
    """A setting has a value the provider cannot run with."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "on", "true", "yes"}:
        return True
    if lowered in {"0", "off", "false", "no"}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    issuer: str = "http://127.0.0.1:5000"
    database_url: str = ""
    redis_url: str = ""
    keys_dir: str = "keys"
    secret_key: str = ""
    sms_backend: str = "outbox"
    sms_outbox: str = ""
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    sms_timeout: float = 5.0
    sms_retries: int = 2
    sms_echo: bool = False
    registry_backend: str = "database"
    ownership_backend: str = "registry"
    # the http backends of the civil registry and mobile-ownership ports
    registry_url: str = ""
    registry_token: str = ""
    ownership_url: str = ""
    ownership_token: str = ""
    adapter_timeout: float = 3.0
    adapter_retries: int = 2
    adapter_breaker_threshold: int = 5
    adapter_breaker_cooldown: float = 30.0
    registry_cache_ttl: float = 60.0
    rate_limits: bool = True
    # abuse limits (Flask-Limiter syntax), see idp/auth/limits.py
    limit_login_ip: str = "20 per 10 minutes"
    limit_verify_ip: str = "60 per 10 minutes"
    limit_ip_range: str = "200 per hour"
    limit_national_id: str = "5 per 15 minutes"
    limit_mobile: str = "5 per 15 minutes"
    limit_mobile_daily: str = "10 per day"
    lockout_after: int = 3
    lockout_window: int = 3600
    lockout_for: int = 1800
    # one-time codes
    otp_ttl: int = 120
    otp_max_attempts: int = 5
    otp_resend_after: int = 60
    # the single sign-on session
    session_idle_timeout: int = 30 * 60
    session_absolute_timeout: int = 12 * 60 * 60
    interaction_ttl: int = 15 * 60
    # tokens
    authorization_code_ttl: int = 60
    access_token_ttl: int = 600
    id_token_ttl: int = 600
    refresh_token_ttl: int = 24 * 60 * 60
    client_cache_seconds: float = 1.0
    # how many proxies (load balancers) in front of the provider set X-Forwarded-For / -Proto
    trusted_proxies: int = 0  # how stale a cached client may be (suspensions apply within this)
    default_locale: str = "fa"
    # the agency registry: scopes whose grant to a service needs a second administrator (space-separated)
    sensitive_scopes: str = "national_id"
    testing: bool = False

    # environment variable name -> field name; every variable is IDP_<FIELD>
    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            name = f"IDP_{f.name.upper()}"
            raw = environ.get(name)
            if not raw and environ.get(name + "_FILE"):
                # secrets from files (container and systemd credentials): IDP_SECRET_KEY_FILE=/run/secrets/...
                try:
                    raw = Path(environ[name + "_FILE"]).read_text().strip()
                except OSError as exc:
                    raise ConfigError(f"{name}_FILE: {exc}") from None
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f, raw)
        values.update(overrides)
        return cls(**values).resolved()

    def resolved(self) -> "Settings":
        """Fill the defaults that depend on other values, then validate."""
        changes = {}
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{(INSTANCE_DIR / 'panjereh.sqlite').resolve()}"
        if not self.sms_outbox:
            changes["sms_outbox"] = str(INSTANCE_DIR / "sms-outbox.jsonl")
        settings = dataclasses.replace(self, **changes)
        settings.validate()
        return settings

    def validate(self) -> None:
        parts = urlsplit(self.issuer)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError("IDP_ISSUER must be an http(s) URL without query or fragment")
        if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ConfigError("IDP_ISSUER must use https except on the loopback address")
        if self.issuer.endswith("/"):
            raise ConfigError("IDP_ISSUER must not end with '/'")
        if self.sms_backend not in {"outbox", "http"}:
            raise ConfigError("IDP_SMS_BACKEND must be 'outbox' or 'http'")
        if self.sms_backend == "http" and not self.sms_gateway_url:
            raise ConfigError("IDP_SMS_BACKEND=http needs IDP_SMS_GATEWAY_URL")
        if self.registry_backend not in {"database", "http"}:
            raise ConfigError("IDP_REGISTRY_BACKEND must be 'database' or 'http'")
        if self.ownership_backend not in {"registry", "http"}:
            raise ConfigError("IDP_OWNERSHIP_BACKEND must be 'registry' or 'http'")
        if self.registry_backend == "http" and not self.registry_url:
            raise ConfigError("IDP_REGISTRY_BACKEND=http needs IDP_REGISTRY_URL")
        if self.ownership_backend == "http" and not self.ownership_url:
            raise ConfigError("IDP_OWNERSHIP_BACKEND=http needs IDP_OWNERSHIP_URL")
        for name in ("registry_url", "ownership_url"):
            url = urlsplit(getattr(self, name))
            if getattr(self, name) and (url.scheme not in {"http", "https"} or not url.netloc
                                        or url.query or url.fragment):
                raise ConfigError(f"IDP_{name.upper()} must be an http(s) URL without query or fragment")
        if self.adapter_timeout <= 0:
            raise ConfigError("IDP_ADAPTER_TIMEOUT must be positive")
        if not 0 <= self.adapter_retries <= 10:
            raise ConfigError("IDP_ADAPTER_RETRIES must be between 0 and 10")
        if self.adapter_breaker_threshold < 1:
            raise ConfigError("IDP_ADAPTER_BREAKER_THRESHOLD must be at least 1")
        if self.adapter_breaker_cooldown <= 0:
            raise ConfigError("IDP_ADAPTER_BREAKER_COOLDOWN must be positive")
        if self.registry_cache_ttl < 0:
            raise ConfigError("IDP_REGISTRY_CACHE_TTL must be zero (no cache) or positive")
        for name in ("limit_login_ip", "limit_verify_ip", "limit_ip_range", "limit_national_id",
                     "limit_mobile", "limit_mobile_daily"):
            try:
                parse_limit(getattr(self, name))
            except ValueError:
                raise ConfigError(f"IDP_{name.upper()}: not a limit like '5 per 15 minutes'") from None
        if any(not token.isascii() or not token.isprintable() or '"' in token or "\\" in token
               for token in self.sensitive_scopes.split()):
            raise ConfigError("IDP_SENSITIVE_SCOPES must be space-separated scope names")
        if self.default_locale not in {"fa", "en"}:
            raise ConfigError("IDP_DEFAULT_LOCALE must be 'fa' or 'en'")
        for name in ("otp_ttl", "otp_max_attempts", "session_idle_timeout",
                     "session_absolute_timeout", "access_token_ttl", "id_token_ttl", "refresh_token_ttl"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"IDP_{name.upper()} must be positive")

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def keys_path(self) -> Path:
        return Path(self.keys_dir)


def _convert(f: dataclasses.Field, raw: str):
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "bool":
            return _bool(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"IDP_{f.name.upper()}: {exc}") from None
    return raw


def load_secret_key(settings: Settings) -> str:
    """The server secret that keys every HMAC (codes, client secrets, cookies).

    Taken from IDP_SECRET_KEY when set; otherwise generated once and kept in
    ``instance/secret_key`` (mode 0600) so every worker and restart agrees.
    """
    if settings.secret_key:
        return settings.secret_key
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


__all__ = ["Settings", "ConfigError", "load_secret_key"]
