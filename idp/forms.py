"""Flask-WTF forms. Fields normalise digits on input; errors are translated."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import AnyOf, DataRequired, ValidationError

from .text import InvalidMobile, InvalidNationalId, normalize_digits, normalize_mobile, normalize_national_id


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
