"""Agency self-service: RFC 7591 registration and RFC 7592 management, answered by
the protocol layer (``idp.oauth.registration``) on the registry's rules
(``idp.admin.self_service``). Bearer tokens only: CSRF-exempt."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..admin.self_service import SelfService
from ..oauth.registration import install, prepare
from ..services import services

bp = Blueprint("registration", __name__)


def _not_json():
    response = jsonify({"error": "invalid_request",
                        "error_description": "Send the client metadata as a JSON object (Content-Type: application/json)."})
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


def _answer(name: str, client_id: str | None = None):
    if request.method in ("POST", "PUT") and not isinstance(request.get_json(silent=True), dict):
        return _not_json()
    server = services().server
    req = prepare(server, client_id, ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))
    response = server.create_endpoint_response(name, req)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.post("/register")
def register():
    return _answer("client_registration")


@bp.route("/register/<client_id>", methods=["GET", "PUT", "DELETE"])
def configure(client_id):
    return _answer("client_configuration", client_id)


def init_app(app):
    from ..app import csrf

    install(app.extensions["panjereh"].server, SelfService())
    csrf.exempt(bp)
    app.register_blueprint(bp)
