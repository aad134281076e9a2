"""Page rendering (idp.rendering): the templates' translations in the request's language, and form fields
drawn with exactly the markup of WTForms' own widgets."""

from __future__ import annotations

import pytest
from flask import g, render_template_string, session
from markupsafe import Markup
from wtforms import Form, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import html_params as wtforms_html_params

from idp import rendering
from idp.forms import DecisionForm, IdentifyForm, OtpForm

ATTRIBUTES = [
    {},
    {"name": "x", "id": "f", "class_": "a b"},
    {"value": "<b>\"'&", "required": True, "disabled": False, "maxlength": 6},
    {"value": Markup('a"b<i>'), "data_foo_bar": "1", "aria_describedby": "x y", "aria-invalid": "true"},
    {"value": None, "autofocus": True, "n": 0, "f": 1.5, "for_": "id"},
    {"x<y": "z", "pattern": "[0-9۰-۹]*", "value": "۱۲۳"},
]


@pytest.mark.parametrize("attributes", ATTRIBUTES)
def test_html_params_writes_what_wtforms_writes(attributes):
    ours = rendering.html_params(**attributes)
    assert ours == wtforms_html_params(**attributes)
    assert isinstance(ours, Markup)


class _Fields(Form):
    plain = StringField("Plain")
    checked = StringField("Checked", validators=[DataRequired(), Length(min=2, max=20)],
                          render_kw={"class": "ltr", "data_x": "1"})
    secret = PasswordField("Secret")
    notes = TextAreaField("Notes")


@pytest.mark.parametrize("data", [{}, {"plain": 'a"<b>&', "checked": "x'y"}])
@pytest.mark.parametrize("render_kw", [{}, {"class_": "otp-input", "autofocus": True, "maxlength": 6,
                                            "aria-describedby": "h e", "aria_invalid": "true", "required": False}])
def test_lean_inputs_draw_what_wtforms_draws(data, render_kw):
    from werkzeug.datastructures import MultiDict

    form = _Fields(MultiDict(data))
    for field in (form.plain, form.checked):
        assert rendering.render_field(field, dict(render_kw)) == field.widget(field, **_merged(field, render_kw))


def _merged(field, render_kw):
    from wtforms.widgets.core import clean_key

    merged = {clean_key(k): v for k, v in render_kw.items()}
    if field.render_kw:
        merged = dict({clean_key(k): v for k, v in field.render_kw.items()}, **merged)
    return merged


def test_other_widgets_are_left_to_wtforms():
    form = _Fields()
    assert rendering.render_field(form.secret, {}) is None
    assert rendering.render_field(form.notes, {}) is None


def test_forms_draw_inputs_as_wtforms_does(bare_app):
    from wtforms.meta import DefaultMeta

    with bare_app.test_request_context("/"):
        for form in (IdentifyForm(), OtpForm(), DecisionForm()):
            for field in form:
                expected = DefaultMeta.render_field(form.meta, field, {"class_": "ltr", "autofocus": True})
                assert field(class_="ltr", autofocus=True) == expected
            assert 'type="hidden"' in form.hidden_tag()


PAGE = ("{{ _('Sign in') }}|{{ _('Signing in to %(service)s (%(agency)s)', service=name, agency='A&B') }}|"
        "{{ ngettext('It is valid for %(num)s minute.', 'It is valid for %(num)s minutes.', 2) }}")


@pytest.mark.parametrize("lang, expected", [
    ("en", "Sign in|Signing in to &lt;b&gt;x (A&amp;B)|It is valid for 2 minutes."),
    ("fa", "ورود|"),
])
def test_templates_translate_in_the_requests_language_and_escape(bare_app, lang, expected):
    with bare_app.test_request_context("/"):
        session["lang"] = lang
        page = render_template_string(PAGE, name="<b>x")
    assert page.startswith(expected)
    assert "<b>" not in page


def test_the_language_is_chosen_per_request(bare_app):
    for lang, word in (("en", "Sign in"), ("fa", "ورود"), ("en", "Sign in")):
        with bare_app.test_request_context("/"):
            g.ui_locale = lang
            assert render_template_string("{{ _('Sign in') }}") == word


def test_without_a_request_the_source_text_is_kept(bare_app):
    assert bare_app.jinja_env.from_string("{{ _('Sign in') }}").render() == "Sign in"


@pytest.mark.parametrize("claim, lang, label", [
    ("name", "en", "Your full name"),
    ("phone_number_verified", "en", "Whether your mobile number has been verified"),
    ("national_id", "en", "Your national ID"),
    ("<unknown>", "en", "&lt;unknown&gt;"),
])
def test_claim_labels(bare_app, claim, lang, label):
    with bare_app.test_request_context("/"):
        session["lang"] = lang
        page = render_template_string('{% from "_claims.html" import claim_label %}{{ claim_label(claim) }}',
                                      claim=claim)
    assert page == label


def test_template_urls_follow_the_script_root(bare_app):
    page = "{{ url_for('static', filename='css/panjereh.css') }}|{{ url_for('pages.catalogue') }}"
    for root in ("", "/idp", ""):  # built once per root, each time for the root of the request
        with bare_app.test_request_context("/", base_url="http://localhost" + root):
            assert render_template_string(page) == f"{root}/static/css/panjereh.css|{root}/services"


def test_form_labels_and_the_locale_follow_the_requests_language(bare_app):
    for lang in ("en", "fa", "en"):
        with bare_app.test_request_context("/"):
            g.ui_locale = lang  # chosen before the first string is translated
            label = str(IdentifyForm().national_id.label.text)
            assert (label == "National ID") == (lang == "en")
            assert rendering.locale() == lang


@pytest.mark.parametrize("described_by", [None, "x&y", Markup("a&amp;b")])
@pytest.mark.parametrize("help", [None, "h"])
@pytest.mark.parametrize("errors", [[], ["e"]])
def test_field_attributes_name_the_help_and_errors(bare_app, described_by, help, errors):
    with bare_app.test_request_context("/"):
        field = OtpForm().otp
        field.errors = errors
        given = {"class_": "x"} if described_by is None else {"class_": "x", "aria-describedby": described_by}
        attributes = rendering.field_attributes(field, help, given)
    names = [n for n in (described_by, "otp-help" if help else None, "otp-error" if errors else None) if n]
    separator = Markup(" ") if isinstance(described_by, Markup) else " "
    assert attributes.get("aria-describedby", "") == separator.join(names)
    assert ("aria-invalid" in attributes) == bool(errors)
    assert attributes["class_"] == "x" and "aria-invalid" not in given
