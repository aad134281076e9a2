"""Page rendering: the templates' translations looked up once per request; form fields drawn without
WTForms' costlier attribute writer (the same markup)."""

from __future__ import annotations

from functools import cache

from flask import Flask, g
from flask_babel import get_translations
from jinja2 import pass_eval_context
from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets.core import clean_key

_CATALOGUE = "_page_translations"


def translations():
    """The request's catalogue (the locale chosen by ``idp.app.select_locale``), found once per request.

    Flask-Babel resolves the locale and its catalogue again for every string, and a page has dozens; the locale
    is chosen once per request in any case (Flask-Babel keeps its first choice). Outside an application context:
    Flask-Babel's own answer (no translation). Flask-Babel's ``refresh()`` and ``force_locale()`` do not reach
    this catalogue (nothing uses them).
    """
    if not g:
        return get_translations()
    catalogue = g.get(_CATALOGUE)
    if catalogue is None:
        catalogue = get_translations()
        setattr(g, _CATALOGUE, catalogue)
    return catalogue


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


def _formatted(eval_ctx, text, variables):
    if eval_ctx.autoescape:
        text = Markup(text)
    return text % variables  # always a format string, as Jinja's newstyle gettext does


def install(app: Flask) -> None:
    """The templates' ``_``, ``gettext``, ``ngettext``, ``pgettext`` and ``npgettext`` (in place of Flask-Babel's)."""
    env = app.jinja_env
    env.add_extension("jinja2.ext.i18n")  # for {% trans %}; already there with Flask-Babel
    env.newstyle_gettext = True  # {% trans %} leaves formatting and escaping to the functions
    env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext, pgettext=pgettext, npgettext=npgettext)


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
