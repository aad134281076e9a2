"""Error pages in the citizen's language; JSON for API clients."""

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from ..adapters.registry import RegistryUnavailable
from ..adapters.store import StoreUnavailable
from ..db import db

#: endpoints that machines call: errors there are JSON
API_PATHS = ("/token", "/introspect", "/revoke", "/userinfo", "/par", "/register", "/admin/api", "/jwks.json",
             "/.well-known/")


#: probed by load balancers and orchestrators at the instance itself, over plain http: never refused for it
PROBES = frozenset({"/healthz", "/readyz"})
_SECURE_ORIGINS: dict[str, bool] = {}  # "scheme://host" -> Authlib's verdict on its transport


def refuse_plain_http():
    """Every page and endpoint only over TLS: plain http to a host that is not this machine's own
    is refused before anything is read (InsecureTransportError: a page in the citizen's language,
    or JSON on the API paths). RFC 6749 section 3.1 requires it of the authorization endpoint,
    and the sign-in's pages carry the national ID and the code; Authlib checks it only on the
    endpoints it parses itself. Behind load balancers that end TLS, IDP_TRUSTED_PROXIES makes
    their ``X-Forwarded-Proto`` the request's scheme.

    Authlib's verdict (``is_secure_transport``) reads only the scheme and the host, and a worker
    sees the same few origins on every request: it is kept per origin, in a bounded memo (the
    Host header is the client's to choose)."""
    path = request.path
    if path in PROBES or path.startswith("/static/"):
        return
    origin = f"{request.scheme}://{request.host}"
    secure = _SECURE_ORIGINS.get(origin)
    if secure is None:
        secure = is_secure_transport(origin + "/")
        if len(_SECURE_ORIGINS) >= 64:
            _SECURE_ORIGINS.clear()
        _SECURE_ORIGINS[origin] = secure
    if not secure:
        raise InsecureTransportError()


def render_error(title: str, message: str, status: int, code: str | None = None):
    return render_template("error.html", title=title, message=message, code=code), status


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(_("This page has expired"),
                            _("For your security the form expired. Go back, reload the page and try again."), 400)

    @app.errorhandler(400)
    def bad_request(error):
        return render_error(_("This request cannot be processed"),
                            _("The page received a request it cannot use. Go back and try again."), 400)

    @app.errorhandler(403)
    def forbidden(error):
        return render_error(_("Not allowed"), _("You are not allowed to open this page."), 403)

    @app.errorhandler(429)
    def too_many(error):
        response = render_error(_("Too many attempts"),
                                _("Too many requests came from your connection. Please wait a few minutes and try again."),
                                429)
        return response

    @app.errorhandler(404)
    def not_found(error):
        if request.accept_mimetypes.best == "application/json":
            return {"error": "not_found"}, 404
        return render_error(_("Page not found"), _("There is no page at this address."), 404)

    @app.errorhandler(405)
    def method_not_allowed(error):
        return render_error(_("This request cannot be processed"),
                            _("This address cannot be used that way. Go back and try again."), 405)

    @app.errorhandler(413)
    def too_large(error):
        return render_error(_("Request too large"),
                            _("What was sent is larger than this page accepts. Go back and try again."), 413)

    @app.errorhandler(InsecureTransportError)
    def insecure_transport(error):
        """Plain http to a host that is not this machine's own (a proxy that does not say it ended TLS,
        or a client that skipped it): refused before anything is read, RFC 6749 section 1.6."""
        db.session.rollback()
        if request.path.startswith(API_PATHS):
            return ({"error": "invalid_request", "error_description": "OAuth 2.0 requires https."},
                    400, {"Cache-Control": "no-store"})
        return render_error(_("This request cannot be processed"),
                            _("This address must be opened over a secure connection (https)."), 400)

    @app.errorhandler(RegistryUnavailable)
    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(RedisError)
    @app.errorhandler(StorageError)
    @app.errorhandler(DBAPIError)
    @app.errorhandler(SQLAlchemyTimeout)
    def dependency_down(error):
        """A database, Redis or registry outage: a clear answer, nothing half-written, retry later."""
        app.logger.error("dependency unavailable: %s: %s", type(error).__name__, error)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the database may be the one that is down
            pass
        if request.path.startswith(API_PATHS):
            return ({"error": "temporarily_unavailable",
                     "error_description": "The service is temporarily unavailable; retry later."},
                    503, {"Retry-After": "30", "Cache-Control": "no-store"})
        response = render_error(_("Service temporarily unavailable"),
                                _("We cannot verify identities right now. Nothing was saved; please try again in a few minutes."), 503)
        return response[0], 503, {"Retry-After": "30"}

    @app.errorhandler(500)
    def server_error(error):
        return render_error(_("Something went wrong"),
                            _("An unexpected error occurred. Nothing was saved; please try again."), 500)
