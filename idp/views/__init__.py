"""Blueprints: short scripts that parse, call a service, record the event, respond."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask

from ..audit import request_origin
from ..rendering import locale as current_locale
from ..text import to_persian_digits

TEHRAN = ZoneInfo("Asia/Tehran")
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self' http: https:; base-uri 'none'")
#: on every response unless the view set its own (a form_post page has its own CSP).
#: Referrer-Policy ``same-origin``: our addresses never reach another site (a service, a page
#: linked to), while our own forms carry their page's address, which the CSRF check requires
#: over https (Flask-WTF's strict referrer check; with ``no-referrer`` no form could be sent)
SECURITY_HEADERS = (("content-security-policy", "Content-Security-Policy", CSP),
                    ("x-content-type-options", "X-Content-Type-Options", "nosniff"),
                    ("referrer-policy", "Referrer-Policy", "same-origin"),
                    ("x-frame-options", "X-Frame-Options", "DENY"))


def local_digits(value) -> str:
    """Numbers as the citizen reads them: Persian digits on Persian pages."""
    text = str(value)
    return to_persian_digits(text) if current_locale() == "fa" else text


def local_datetime(value) -> str:
    """A UTC timestamp as the citizen reads it: Solar Hijri in Persian, Gregorian in English (Tehran time)."""
    moment = value.astimezone(TEHRAN)
    if current_locale() == "fa":
        import jdatetime  # the account and console pages only: not loaded into every worker

        return to_persian_digits(jdatetime.datetime.fromgregorian(datetime=moment).strftime("%Y/%m/%d %H:%M"))
    return moment.strftime("%Y-%m-%d %H:%M")


origin = request_origin  # the views' short name for it


def register_views(app: Flask) -> None:
    from . import account, admin_api, admin_console, errors, interaction, oauth, pages, registration

    for module in (oauth, interaction, account, pages, errors, admin_api, admin_console, registration):
        module.init_app(app)

    app.add_template_filter(local_digits, "digits")
    app.add_template_filter(local_datetime, "datetime")

    @app.context_processor
    def locale_globals():
        locale = current_locale()
        return {"current_locale": locale, "text_direction": "rtl" if locale == "fa" else "ltr"}

    @app.after_request
    def security_headers(response):
        headers = response.headers
        present = {name.lower() for name, _value in headers}  # one pass over the few headers set
        missing = [(name, value) for key, name, value in SECURITY_HEADERS if key not in present]
        if "cache-control" not in present and headers.get("Content-Type", "").startswith("text/html"):
            missing.append(("Cache-Control", "no-store"))  # pages are personal: never kept by a cache
        headers.extend(missing)
        return response
