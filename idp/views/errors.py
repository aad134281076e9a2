"""Error pages in the citizen's language; JSON for API clients."""

from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from ..adapters.registry import RegistryUnavailable
from ..adapters.store import StoreUnavailable


def render_error(title: str, message: str, status: int, code: str | None = None):
    return render_template("error.html", title=title, message=message, code=code), status


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(_("This page has expired"),
                            _("For your security the form expired. Go back, reload the page and try again."), 400)

    @app.errorhandler(404)
    def not_found(error):
        if request.accept_mimetypes.best == "application/json":
            return {"error": "not_found"}, 404
        return render_error(_("Page not found"), _("There is no page at this address."), 404)

    @app.errorhandler(405)
    def method_not_allowed(error):
        return render_error(_("Not allowed"), _("This address does not accept that request."), 405)

    @app.errorhandler(413)
    def too_large(error):
        return render_error(_("Request too large"), _("The request is too large."), 413)

    @app.errorhandler(RegistryUnavailable)
    @app.errorhandler(StoreUnavailable)
    def dependency_down(error):
        app.logger.error("dependency unavailable: %s", error)
        return render_error(_("Service temporarily unavailable"),
                            _("We cannot verify identities right now. Nothing was saved; please try again in a few minutes."), 503)

    @app.errorhandler(500)
    def server_error(error):
        return render_error(_("Something went wrong"),
                            _("An unexpected error occurred. Nothing was saved; please try again."), 500)
