"""The short path for urlencoded form bodies answers exactly as Werkzeug's form parser does."""

from __future__ import annotations

import io

import pytest
from flask import Flask, Request as FlaskRequest
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.test import EnvironBuilder

from idp.web_request import Request

BODIES = [
    b"grant_type=client_credentials&scope=api%3Aread",
    b"token=a.b.c&token_type_hint=access_token",
    b"a=1&a=2&b=&c",  # repeated keys, blank values, a key without '='
    b"name=%D8%B2%D9%87%D8%B1%D8%A7+%D8%A7%D8%AD%D9%85%D8%AF%DB%8C",  # Persian, '+' for a space
    "name=زهرا".encode(),  # raw UTF-8
    b"bad=%ZZ&ok=1",  # a broken escape is kept as written
    b"pct=%FF%FE",  # escapes that are not UTF-8
    b"\xff\xfe=raw",  # a body that is not UTF-8 at all: an empty form
    b"",
    b"x=1;y=2",
]


@pytest.fixture
def app():
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    return app


def parsed(app, request_class, body: bytes, content_type="application/x-www-form-urlencoded", **extra):
    environ = EnvironBuilder(method="POST", path="/token", data=body, content_type=content_type).get_environ()
    environ.update(extra)
    with app.test_request_context(environ_base=environ):
        request = request_class(environ)
        return request.form.to_dict(flat=False), request.files.to_dict(), request.get_data()


@pytest.mark.parametrize("body", BODIES)
def test_forms_parse_as_werkzeug_parses_them(app, body):
    assert parsed(app, Request, body) == parsed(app, FlaskRequest, body)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded; charset=UTF-8",
                                          "multipart/form-data; boundary=x", "application/json", "text/plain"])
def test_other_bodies_go_to_werkzeug(app, content_type):
    body = b"grant_type=client_credentials"
    assert parsed(app, Request, body, content_type) == parsed(app, FlaskRequest, body, content_type)


def test_a_body_cut_short_is_a_client_disconnect(app):
    environ = EnvironBuilder(method="POST", path="/token", data=b"a=1",
                             content_type="application/x-www-form-urlencoded").get_environ()
    environ["CONTENT_LENGTH"] = "10"  # the client promised more than it sent
    environ["wsgi.input"] = io.BytesIO(b"a=1")
    with app.test_request_context(environ_base=environ):
        with pytest.raises(ClientDisconnected):
            Request(environ).form


def test_a_body_over_the_limit_is_refused_before_it_is_read(app):
    body = b"a=" + b"x" * 2000
    with pytest.raises(RequestEntityTooLarge):
        parsed(app, Request, body)


def test_the_provider_parses_its_forms_with_it(bare_app):
    assert bare_app.request_class is Request
    with bare_app.test_request_context("/token", method="POST", data=b"grant_type=x&scope=a+b",
                                       content_type="application/x-www-form-urlencoded"):
        from flask import request

        assert isinstance(request._get_current_object(), Request)
        assert request.form.to_dict() == {"grant_type": "x", "scope": "a b"}


@pytest.mark.parametrize("body", BODIES)
def test_parameters_answer_get_as_werkzeug_does(app, body):
    """Present, repeated, blank and absent keys, with and without a type (that may fail)."""
    from werkzeug.datastructures import ImmutableMultiDict

    environ = EnvironBuilder(method="POST", path="/token", data=body,
                             content_type="application/x-www-form-urlencoded").get_environ()
    with app.test_request_context(environ_base=environ):
        ours = Request(environ).form
        theirs = ImmutableMultiDict(list(ours.items(multi=True)))
        for key in [*ours.keys(), "absent", "token_type_hint"]:
            for kwargs in ({}, {"default": "d"}, {"type": int}, {"default": 7, "type": int}):
                assert ours.get(key, **kwargs) == theirs.get(key, **kwargs), (key, kwargs)
        with pytest.raises(KeyError):
            ours["absent"]


def test_endpoint_requests_carry_what_authlibs_requests_carry(bare_app):
    """The protocol endpoints' request sets every attribute Authlib's own sets (grants read them)."""
    from authlib.oauth2.rfc6749 import OAuth2Request
    from flask import request

    from idp.oauth.server import EndpointRequest

    with bare_app.test_request_context("/token?x=1", method="POST", base_url="https://idp.example",
                                       headers={"Authorization": "Basic eDp5"}):
        ours = EndpointRequest(request._get_current_object())
        theirs = OAuth2Request("POST", "https://idp.example/token")
        assert set(vars(theirs)) <= set(vars(ours))
        for name in set(vars(theirs)) - {"uri", "headers", "payload"}:  # the rest starts empty
            assert getattr(ours, name) == getattr(theirs, name), name
        assert ours.uri == "https://idp.example/token" and ours.method == "POST"
        assert ours.headers["Authorization"] == "Basic eDp5" and ours.form is request.form
