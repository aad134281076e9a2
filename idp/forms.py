"""Flask-WTF forms. Fields normalise digits on input; errors are translated."""

from __future__ import annotations

from babel import support
from flask_wtf import FlaskForm as _FlaskForm
from wtforms import StringField
from wtforms.i18n import messages_path
from wtforms.validators import AnyOf, DataRequired, ValidationError

from . import rendering
from .rendering import lazy_gettext as _l
from .text import InvalidMobile, InvalidNationalId, normalize_digits, normalize_mobile, normalize_national_id


class _WTFormsMessages:
    """WTForms' own messages in the request's language, each catalogue read once per process
    (Flask-WTF reads it from disk again on every request)."""

    _catalogues: dict = {}

    def _catalogue(self):
        locale = rendering.locale()
        catalogue = self._catalogues.get(locale)
        if catalogue is None:
            catalogue = self._catalogues[locale] = support.Translations.load(messages_path(), [locale], "wtforms")
        return catalogue

    def gettext(self, string):
        return self._catalogue().ugettext(string)

    def ngettext(self, singular, plural, n):
        return self._catalogue().ungettext(singular, plural, n)


_MESSAGES = _WTFormsMessages()


class FlaskForm(_FlaskForm):
    """Every form of Panjereh: CSRF-protected (Flask-WTF), messages in the citizen's language, text and hidden
    inputs drawn by ``idp.rendering`` (the markup of WTForms' widgets, at less cost)."""

    class Meta:
        def get_translations(self, form):
            return _MESSAGES

        def render_field(self, field, render_kw):
            drawn = rendering.render_field(field, render_kw)
            return drawn if drawn is not None else super().render_field(field, render_kw)


def _strip(value):
    return normalize_digits(value).strip() if isinstance(value, str) else value


class IdentifyForm(FlaskForm):
    national_id = StringField(_l("National ID"), validators=[DataRequired(_l("Enter your national ID."))],
                              filters=[_strip])
    mobile = StringField(_l("Mobile number"), validators=[DataRequired(_l("Enter your mobile number."))],
                         filters=[_strip])

    def validate_national_id(self, field):
        try:
            field.data = normalize_national_id(field.data)
        except InvalidNationalId as exc:
            if exc.reason == "checksum":
                raise ValidationError(_l("This national ID is not valid: please check the digits.")) from None
            raise ValidationError(_l("A national ID has exactly 10 digits.")) from None

    def validate_mobile(self, field):
        try:
            field.data = normalize_mobile(field.data)
        except InvalidMobile:
            raise ValidationError(_l("Enter a mobile number like 09121234567.")) from None


class OtpForm(FlaskForm):
    otp = StringField(_l("Verification code"), validators=[DataRequired(_l("Enter the code we sent."))],
                      filters=[_strip])

    def validate_otp(self, field):
        if not (len(field.data) == 6 and field.data.isascii() and field.data.isdigit()):
            raise ValidationError(_l("The code has 6 digits."))


class FactorForm(FlaskForm):
    """The code from the authenticator app, or a recovery code instead."""

    otp = StringField(_l("Code from your authenticator app"), filters=[_strip])
    recovery_code = StringField(_l("Or a recovery code"), filters=[_strip])

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        if not self.otp.data and not self.recovery_code.data:
            self.otp.errors.append(_l("Enter the 6-digit code from your authenticator app."))
            return False
        if self.otp.data and not (len(self.otp.data) == 6 and self.otp.data.isascii() and self.otp.data.isdigit()):
            self.otp.errors.append(_l("The code has 6 digits."))
            return False
        return True


class DecisionForm(FlaskForm):
    """A form whose submit buttons are named ``decision``; ``choices`` are their values."""

    decision = StringField()

    @classmethod
    def with_choices(cls, *choices: str):
        form = cls()
        form.decision.validators = [DataRequired(), AnyOf(choices)]
        return form


class ResendForm(FlaskForm):
    """Just the CSRF token."""


# --- the administrators' console (idp.views.admin_console) ---

import json as _json  # noqa: E402

from flask_babel import gettext as _  # noqa: E402
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, TextAreaField  # noqa: E402
from wtforms.validators import Length, Optional  # noqa: E402
from wtforms.widgets import CheckboxInput, ListWidget  # noqa: E402

from .interaction.levels import ACR_VALUES  # noqa: E402
from .registration import AUTH_METHODS, GRANT_TYPES, ID_TOKEN_ALGS, RegistrationError, check_uri  # noqa: E402


def _lines(value):
    """A textarea of addresses, one per line (blank lines ignored), as a list."""
    if isinstance(value, list):
        return value
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def choices(*pairs) -> list[SelectChoice]:
    """Options of a select (value, label)."""
    return [SelectChoice(value, label) for value, label in pairs]


def _blank_to_none(value):
    value = _strip(value)
    return value or None


def uri_problem(message: str, uri: str) -> str:
    """The registry's own refusal of an address (``idp.registration.check_uri``), said in the page's language.
    The address is isolated (U+2068 ... U+2069) so that it reads left to right inside a Persian sentence."""
    uri = f"\u2068{uri}\u2069"
    if "must use https" in message:
        return _("%(uri)s must use https: plain http is allowed only on 127.0.0.1 or localhost.", uri=uri)
    if "fragment" in message:
        return _("%(uri)s must not contain a fragment (the part from #): addresses are matched exactly.", uri=uri)
    if "wildcard" in message:
        return _("%(uri)s must not contain a wildcard (*): list every address in full.", uri=uri)
    return _("%(uri)s is not a full address: it must start with https:// and a host name.", uri=uri)


class RegistryUri:
    """Each address (a field of one, or a list) must pass the registry's rule for URIs: https (http only on
    the loopback addresses), absolute, no fragment, no wildcard. The error names the address and the rule."""

    def __call__(self, form, field):
        values = field.data if isinstance(field.data, list) else [field.data] if field.data else []
        problems = []
        for uri in values:
            try:
                check_uri(uri, "URI")
            except RegistrationError as exc:
                problems.append(uri_problem(str(exc), uri))
        if problems:  # every wrong address at once, not one per attempt
            field.errors.extend(problems[:-1])
            raise ValidationError(problems[-1])


class LinesField(TextAreaField):
    """A textarea of addresses, one per line (blank lines ignored); its data is the list."""

    def process_formdata(self, valuelist):
        self.data = _lines(valuelist[0] if valuelist else "")

    def _value(self):
        return "\n".join(self.data) if isinstance(self.data, list) else (self.data or "")


class MultipleCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (drawn as a fieldset by ``_forms.html``)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConsoleFilterForm(FlaskForm):
    """The search and filter boxes of the console's lists (GET: nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=100)], filters=[_strip])
    status = SelectField(_l("Status"), validators=[Optional()], choices=[])
    agency = SelectField(_l("Agency"), validators=[Optional()], choices=[])


class AgencyForm(FlaskForm):
    slug = StringField(_l("Short name (slug)"), validators=[Optional(), Length(max=64)], filters=[_blank_to_none])
    name_fa = StringField(_l("Name in Persian"), validators=[DataRequired(_l("Enter the agency's name in Persian.")),
                                                             Length(max=200)], filters=[_strip])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(_l("Enter the agency's name in English.")),
                                                             Length(max=200)], filters=[_strip])
    contact_email = StringField(_l("Contact email"), validators=[Optional(), Length(max=254)],
                                filters=[_blank_to_none])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=32)],
                                filters=[_blank_to_none])


class InitialTokenForm(FlaskForm):
    expires_in = SelectField(_l("Valid for"), coerce=int, default=7 * 24 * 3600, choices=choices(
        (24 * 3600, _l("1 day")), (7 * 24 * 3600, _l("7 days")), (30 * 24 * 3600, _l("30 days")),
        (90 * 24 * 3600, _l("90 days"))))
    single_use = BooleanField(_l("Single use: it registers one service only"))


class ServiceForm(FlaskForm):
    """A service's registration. The registry validates it again (``idp.admin.clients``); this form
    checks addresses early so every wrong one is shown next to its field at once."""

    agency = SelectField(_l("Agency"), choices=[])
    client_name = StringField(_l("Name in English"), validators=[
        DataRequired(_l("Enter the service's name in English.")), Length(max=200)], filters=[_strip])
    client_name_fa = StringField(_l("Name in Persian"), validators=[Optional(), Length(max=200)],
                                 filters=[_blank_to_none])
    description_en = TextAreaField(_l("Description in English"), validators=[Optional(), Length(max=2000)],
                                   filters=[_blank_to_none])
    description_fa = TextAreaField(_l("Description in Persian"), validators=[Optional(), Length(max=2000)],
                                   filters=[_blank_to_none])
    client_uri = StringField(_l("Home page"), validators=[Optional(), Length(max=500), RegistryUri()],
                             filters=[_blank_to_none])
    logo_uri = StringField(_l("Logo address"), validators=[Optional(), Length(max=500), RegistryUri()],
                           filters=[_blank_to_none])
    redirect_uris = LinesField(_l("Redirect URIs"), validators=[RegistryUri()], default=list)
    post_logout_redirect_uris = LinesField(_l("Post-logout redirect URIs"), validators=[RegistryUri()],
                                           default=list)
    backchannel_logout_uri = StringField(_l("Back-channel logout URI"),
                                         validators=[Optional(), Length(max=500), RegistryUri()],
                                         filters=[_blank_to_none])
    scope = StringField(_l("Scopes"), validators=[DataRequired(_l("Enter at least the scope openid.")),
                                                  Length(max=1000)], filters=[_strip], default="openid")
    grant_types = MultipleCheckboxField(_l("Grant types"), choices=choices(*((g, g) for g in GRANT_TYPES)),
                                        default=["authorization_code"])
    token_endpoint_auth_method = SelectField(_l("Client authentication"), choices=choices(*((m, m) for m in AUTH_METHODS)),
                                             default="client_secret_basic")
    subject_type = SelectField(_l("Subject identifier"), choices=choices(
        ("pairwise", _l("Pairwise (recommended)")), ("public", _l("Public"))), default="pairwise")
    id_token_signed_response_alg = SelectField(_l("ID token signature"), choices=choices(*((a, a) for a in ID_TOKEN_ALGS)),
                                               default="RS256")
    default_acr = SelectField(_l("Minimum level of assurance"),
                              choices=choices(("", _l("None")), *((acr, acr) for acr in ACR_VALUES)), default="")
    require_par = BooleanField(_l("Accept only pushed authorization requests (PAR)"))

    def validate_grant_types(self, field):
        if not field.data:
            raise ValidationError(_l("Choose at least one grant type."))

    def changes(self) -> dict:
        """The registry's fields (``idp.admin.clients.SERVICE_FIELDS``) from the form."""
        return {
            "client_name": self.client_name.data, "client_name_fa": self.client_name_fa.data,
            "description_en": self.description_en.data, "description_fa": self.description_fa.data,
            "client_uri": self.client_uri.data, "logo_uri": self.logo_uri.data,
            "redirect_uris": list(self.redirect_uris.data), "post_logout_redirect_uris":
                list(self.post_logout_redirect_uris.data),
            "backchannel_logout_uri": self.backchannel_logout_uri.data, "scope": self.scope.data,
            "grant_types": list(self.grant_types.data),
            "token_endpoint_auth_method": self.token_endpoint_auth_method.data,
            "subject_type": self.subject_type.data,
            "id_token_signed_response_alg": self.id_token_signed_response_alg.data,
            "default_acr_values": [self.default_acr.data] if self.default_acr.data else [],
            "require_pushed_authorization_requests": bool(self.require_par.data),
        }

    def fill(self, state: dict) -> None:
        """Show a service's registration (``idp.admin.clients.state_of``) in the form."""
        for name in ("client_name", "client_name_fa", "description_en", "description_fa", "client_uri", "logo_uri",
                     "backchannel_logout_uri", "scope", "token_endpoint_auth_method", "subject_type",
                     "id_token_signed_response_alg"):
            getattr(self, name).data = state.get(name)
        self.redirect_uris.data = list(state.get("redirect_uris") or [])
        self.post_logout_redirect_uris.data = list(state.get("post_logout_redirect_uris") or [])
        self.grant_types.data = list(state.get("grant_types") or [])
        self.default_acr.data = (state.get("default_acr_values") or [""])[0]
        self.require_par.data = bool(state.get("require_pushed_authorization_requests"))


class KeysForm(FlaskForm):
    """A service's public keys: a JWKS by value, a jwks_uri, or none."""

    source = SelectField(_l("Where the keys are"), default="jwks", choices=choices(
        ("jwks", _l("A JSON Web Key Set, pasted below")), ("jwks_uri", _l("At an address (jwks_uri)")),
        ("none", _l("No keys"))))
    jwks = TextAreaField(_l("JSON Web Key Set"), validators=[Length(max=50000)], filters=[_strip])
    jwks_uri = StringField(_l("JWKS URI"), validators=[Optional(), Length(max=500), RegistryUri()],
                           filters=[_blank_to_none])

    def validate_jwks(self, field):
        if self.source.data != "jwks":
            return
        if not field.data:
            raise ValidationError(_l("Paste the service's JSON Web Key Set."))
        try:
            value = _json.loads(field.data)
        except ValueError:
            raise ValidationError(_l("This is not valid JSON: paste the whole key set, from { to }.")) from None
        if not isinstance(value, dict):
            raise ValidationError(_l("A JSON Web Key Set is a JSON object with a keys list."))
        field.parsed = value

    def validate_jwks_uri(self, field):
        if self.source.data == "jwks_uri" and not field.data:
            raise ValidationError(_l("Enter the address of the service's key set."))

    def keys(self) -> dict:
        if self.source.data == "jwks":
            return {"jwks": self.jwks.parsed, "jwks_uri": None}
        if self.source.data == "jwks_uri":
            return {"jwks": None, "jwks_uri": self.jwks_uri.data}
        return {"jwks": None, "jwks_uri": None}


class ConfirmForm(FlaskForm):
    """A confirmation (suspend, retire, rotate, approve ...): the CSRF token only."""


class RejectForm(FlaskForm):
    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=1000)], filters=[_blank_to_none])
