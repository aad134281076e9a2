"""Configuration of a demo agency portal.

Every setting comes from an environment variable of the same name; the
``config`` dict given to :func:`clients.portal.create_app` overrides it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

#: Settings read from the environment, with their defaults (None = no default).
DEFAULTS: dict[str, str | None] = {
    "PORTAL_ISSUER": "http://127.0.0.1:5000",
    "PORTAL_CLIENT_ID": None,
    "PORTAL_CLIENT_SECRET": None,
    "PORTAL_SCOPE": "openid profile national_id",
    "PORTAL_NAME_FA": "سامانه نمونه",
    "PORTAL_NAME_EN": "Demo Portal",
    "PORTAL_SECRET_KEY": None,
    "PORTAL_THEME": "#1f4e79",
    # Optional: mark the session cookie Secure (set to 1 when served over HTTPS).
    "PORTAL_COOKIE_SECURE": "0",
    # Optional: seconds to wait for the provider on each back-channel request.
    "PORTAL_HTTP_TIMEOUT": "10",
}

DEFAULT_THEME = "#1f4e79"

# A conservative whitelist of CSS colour syntaxes: #rgb / #rrggbb(aa), a named
# colour, or an rgb()/hsl() function. Anything else falls back to the default
# (the value ends up in a stylesheet, so it must not be able to inject CSS).
_THEME_RE = re.compile(
    r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,30}|(rgb|rgba|hsl|hsla)\([0-9.,%\s/a-z]{1,60}\))$"
)


class ConfigError(ValueError):
    """The portal is not configured well enough to start."""


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def cookie_name_for(client_id: str) -> str:
    """Session cookie name for a portal: ``portal_<client_id>``, sanitised.

    Browsers do not isolate cookies by port, so two portals on 127.0.0.1 that
    both used Flask's default ``session`` cookie (or the provider's) would
    overwrite each other. Characters outside ``[A-Za-z0-9_]`` become ``_``;
    when anything had to be replaced a short hash of the real client_id is
    appended so that e.g. ``e-tax`` and ``e.tax`` still get distinct cookies.
    """
    safe = re.sub(r"[^A-Za-z0-9_]", "_", client_id)[:48]
    if safe != client_id:
        digest = hashlib.sha256(client_id.encode("utf-8")).hexdigest()[:8]
        safe = f"{safe}_{digest}"
    return f"portal_{safe}"


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, environment and ``overrides`` and validate the result."""
    overrides = dict(overrides or {})
    conf: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = overrides.pop(key, None)
        if value is None:
            value = os.environ.get(key)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            value = default
        conf[key] = value.strip() if isinstance(value, str) else value

    if not conf["PORTAL_CLIENT_ID"]:
        raise ConfigError(
            "PORTAL_CLIENT_ID is required: register the portal with Panjereh "
            "and set the client_id it was given."
        )

    issuer = str(conf["PORTAL_ISSUER"])
    if not issuer.startswith(("https://", "http://")):
        raise ConfigError(f"PORTAL_ISSUER must be an http(s) URL, got {issuer!r}")
    conf["PORTAL_ISSUER"] = issuer.rstrip("/")

    if "openid" not in str(conf["PORTAL_SCOPE"]).split():
        raise ConfigError("PORTAL_SCOPE must include 'openid'")

    if not _THEME_RE.match(str(conf["PORTAL_THEME"])):
        conf["PORTAL_THEME"] = DEFAULT_THEME

    if not conf["PORTAL_SECRET_KEY"]:
        # Random per process: sessions do not survive a restart, which is fine
        # for a demo. Set PORTAL_SECRET_KEY for anything longer-lived.
        conf["PORTAL_SECRET_KEY"] = secrets.token_hex(32)
        conf["PORTAL_SECRET_KEY_GENERATED"] = True

    conf["PORTAL_COOKIE_SECURE"] = _truthy(conf["PORTAL_COOKIE_SECURE"])
    try:
        conf["PORTAL_HTTP_TIMEOUT"] = float(conf["PORTAL_HTTP_TIMEOUT"])
    except (TypeError, ValueError) as exc:
        raise ConfigError("PORTAL_HTTP_TIMEOUT must be a number of seconds") from exc

    # Any other keys (e.g. TESTING) are passed through to Flask's app.config.
    conf.update(overrides)
    return conf
