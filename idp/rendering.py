"""Page rendering: the templates' translations and the request's language looked up once per request; the
addresses of static files built once; form fields drawn without WTForms' costlier attribute writer (the same
markup)."""

from __future__ import annotations

from functools import cache

from flask import Flask
from flask.globals import _cv_app, _cv_request
from flask_babel import get_locale, get_translations
from flask_babel.speaklater import LazyString
from jinja2 import pass_eval_context
from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets.core import clean_key

_CATALOGUE = "_page_translations"
_LOCALE = "_page_locale"


def translations():
    """The request's catalogue (the locale chosen by ``idp.app.select_locale``), found once per request.

    Flask-Babel resolves the locale and its catalogue again for every string, and a page has dozens; the locale
    is chosen once per request in any case (Flask-Babel keeps its first choice). Outside an application context:
    Flask-Babel's own answer (no translation). Flask-Babel's ``refresh()`` and ``force_locale()`` do not reach
    this catalogue (nothing uses them).
    """
    return _once_per_request(_CATALOGUE, get_translations)


def locale() -> str:
    """The request's language (``fa`` when there is none), as Flask-Babel chose it, found once per request like
    its catalogue (Flask-Babel's ``get_locale`` looks for it through several proxies at every call)."""
    return _once_per_request(_LOCALE, lambda: str(get_locale() or "fa"))


def _once_per_request(name: str, find):
    """``find()``, kept on the application context's ``g`` for the rest of the request; outside one, ``find()``.
    ``g`` is read from Flask's own context variable: ``flask.g`` is a proxy that finds it again on every attribute,
    several times the cost of a translation."""
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        return find()
    kept = app_ctx.g.__dict__
    value = kept.get(name)
    if value is None:
        value = kept[name] = find()
    return value


# The templates' gettext functions: what Jinja's i18n extension installs with ``newstyle=True`` (translate, mark
# safe when autoescaping, format with the escaped variables), without its indirections through the template's
# context (an alias ``_`` that looks ``gettext`` up, a wrapper that calls the translation function through
# ``Context.call``) that cost more than the translation itself.

@pass_eval_context
def gettext(eval_ctx, string, /, **variables):
    return _formatted(eval_ctx, translations().ugettext(string), variables)


@pass_eval_context
def ngettext(eval_ctx, singular, plural, num, /, **variables):
    variables.setdefault("num", num)
    return _formatted(eval_ctx, translations().ungettext(singular, plural, num), variables)


@pass_eval_context
def pgettext(eval_ctx, context, string, /, **variables):
    variables.setdefault("context", context)
    return _formatted(eval_ctx, translations().upgettext(context, string), variables)


@pass_eval_context
def npgettext(eval_ctx, context, singular, plural, num, /, **variables):
    variables.setdefault("context", context)
    variables.setdefault("num", num)
    return _formatted(eval_ctx, translations().unpgettext(context, singular, plural, num), variables)


def lazy_gettext(string: str, /, **variables) -> LazyString:
    """Flask-Babel's ``lazy_gettext`` (the text translated whenever it is used: forms' labels and messages), from
    the request's catalogue as the templates' strings are."""
    return LazyString(_translated, string, **variables)


def _translated(string, **variables):
    text = translations().ugettext(string)
    return text % variables if variables else text  # as Flask-Babel's gettext


def _formatted(eval_ctx, text, variables):
    if eval_ctx.autoescape:
        text = Markup(text)
    if not variables and "%" not in text:
        return text  # what formatting would give (most strings have no placeholder), without its cost
    return text % variables  # always a format string, as Jinja's newstyle gettext does


def install(app: Flask) -> None:
    """The templates' ``_``, ``gettext``, ``ngettext``, ``pgettext`` and ``npgettext`` (in place of Flask-Babel's)."""
    env = app.jinja_env
    env.add_extension("jinja2.ext.i18n")  # for {% trans %}; already there with Flask-Babel
    env.newstyle_gettext = True  # {% trans %} leaves formatting and escaping to the functions
    env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext, pgettext=pgettext, npgettext=npgettext)
    env.globals["url_for"] = _url_for(app)
    env.globals["field_attributes"] = field_attributes
    env.globals["forms"] = MacroLibrary(env, "_forms.html")  # {{ forms.field(form.otp) }}
    env.globals["claim_labels"] = MacroLibrary(env, "_claims.html")  # {{ claim_labels.claim_label('name') }}


class MacroLibrary:
    """A template of macros, offered to every template as a global: ``{{ forms.field(...) }}``.

    It is the module that ``{% from "_forms.html" import field %}`` gives (made once from the template, with the
    environment's globals, without the page's context), without the import's cost on every render: Jinja then
    compares the page's globals with the library's, name by name in Python (about 30 µs an import, five imports
    a sign-in). A template reloaded in development is seen (the environment's own template cache is asked)."""

    def __init__(self, env, name: str):
        self._env = env
        self._name = name

    def __getattr__(self, macro: str):
        return getattr(self._env.get_template(self._name).module, macro)


def _url_for(app: Flask):
    """The templates' ``url_for``: Flask's, except that the addresses that take nothing from the page (a static
    file, a page without parameters) are built once for each script root the application is mounted at."""
    build = app.url_for
    built: dict = {}

    def url_for(endpoint: str, /, **values) -> str:
        request_ctx = _cv_request.get(None)
        # url_defaults functions could add values to any address: none are registered, but then nothing is kept
        if (request_ctx is None or app.url_default_functions or endpoint[:1] == "."
                or (values and (endpoint != "static" or values.keys() != {"filename"}))):
            return build(endpoint, **values)
        key = (request_ctx.url_adapter.script_name, endpoint, values.get("filename"))
        url = built.get(key)
        if url is None:
            if len(built) >= 1024:  # a bound, should script roots keep changing
                built.clear()
            url = built[key] = build(endpoint, **values)
        return url

    return url_for


_QUOTE = Markup("&quot;")


def html_params(**kwargs) -> Markup:
    """HTML attributes exactly as WTForms' ``html_params`` writes them (sorted by name; ``True``: the bare name;
    ``False``: left out; names and values escaped), in one pass rather than a ``Markup.format`` per attribute."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = _attribute_name(key)
        if value is True:
            params.append(key)
        elif value is not False:
            value = escape(value)
            if '"' in value:  # a value given as markup keeps its quotes through escape()
                value = value.replace('"', _QUOTE)
            params.append(f'{key}="{value}"')
    return Markup(" ".join(params))


@cache
def _attribute_name(key: str) -> Markup:
    return escape(clean_key(key))


class TextInput(widgets.TextInput):
    html_params = staticmethod(html_params)


class HiddenInput(widgets.HiddenInput):
    html_params = staticmethod(html_params)


#: WTForms' widgets and their lean equivalents (the same markup)
LEAN_WIDGETS = {widgets.TextInput: TextInput(), widgets.HiddenInput: HiddenInput()}


def field_attributes(field, help, attributes: dict) -> dict:
    """The attributes the ``field`` macro (``_forms.html``) gives a field: the caller's, with aria-describedby
    naming the help text and the error messages too, and aria-invalid when the field has errors (one call where
    the template's filters and method calls took several)."""
    attributes = dict(attributes)
    described_by = [name for name in (attributes.get("aria-describedby"), f"{field.id}-help" if help else None,
                                      f"{field.id}-error" if field.errors else None) if name]
    if any(hasattr(name, "__html__") for name in described_by):  # as Jinja's join filter
        attributes["aria-describedby"] = Markup(" ").join(described_by)
    elif described_by:
        attributes["aria-describedby"] = " ".join(map(str, described_by))
    if field.errors:
        attributes["aria-invalid"] = "true"
    return attributes


def render_field(field, render_kw: dict) -> Markup | None:
    """``field`` drawn as WTForms draws it (``DefaultMeta.render_field``), if its widget has a lean equivalent
    (the same class, the same input type); else None."""
    widget = LEAN_WIDGETS.get(type(field.widget))
    if widget is None or field.widget.input_type != widget.input_type:
        return None
    render_kw = {clean_key(k): v for k, v in render_kw.items()}
    if field.render_kw is not None:
        render_kw = dict({clean_key(k): v for k, v in field.render_kw.items()}, **render_kw)
    return widget(field, **render_kw)
