"""A tiny dictionary-based translation for the demo portal (Persian / English)."""

from __future__ import annotations

from flask import g

LANGUAGES = ("fa", "en")
DEFAULT_LANGUAGE = "fa"

#: Text direction per language.
DIRECTION = {"fa": "rtl", "en": "ltr"}

#: Each language's name, written in that language (for the language switch).
LANGUAGE_NAMES = {"fa": "فارسی", "en": "English"}

MESSAGES: dict[str, dict[str, str]] = {
    "skip_to_content": {
        "fa": "پرش به محتوای اصلی",
        "en": "Skip to main content",
    },
    "language": {"fa": "زبان", "en": "Language"},
    "switch_language": {
        "fa": "تغییر زبان به انگلیسی",
        "en": "Switch language to Persian",
    },
    "welcome": {"fa": "خوش آمدید", "en": "Welcome"},
    "intro": {
        "fa": "برای استفاده از خدمات این سامانه، با حساب پنجره (کد ملی و رمز یک‌بارمصرف پیامکی) وارد شوید.",
        "en": "To use this portal's services, sign in with your Panjereh account (national ID and a one-time SMS code).",
    },
    "sign_in": {"fa": "ورود با پنجره", "en": "Sign in with Panjereh"},
    "sign_in_hint": {
        "fa": "به صفحهٔ ورود پنجره، درگاه ملی ورود یکپارچه، منتقل می‌شوید.",
        "en": "You will be taken to Panjereh, the national single sign-on, to sign in.",
    },
    "signed_in_as": {"fa": "وارد شده به عنوان {name}", "en": "Signed in as {name}"},
    "national_id": {"fa": "کد ملی", "en": "National ID"},
    "not_provided": {"fa": "ارسال نشده", "en": "Not provided"},
    "claims_caption": {
        "fa": "همهٔ اطلاعاتی که از پنجره دریافت شد (توکن شناسایی و پاسخ userinfo)",
        "en": "Everything received from Panjereh (ID token and userinfo response)",
    },
    "claim": {"fa": "ویژگی", "en": "Claim"},
    "value": {"fa": "مقدار", "en": "Value"},
    "sign_out": {"fa": "خروج", "en": "Sign out"},
    "signed_out": {"fa": "از سامانه خارج شدید.", "en": "You have been signed out."},
    "footer": {
        "fa": "نمونهٔ نمایشی اتصال یک سامانهٔ دستگاه اجرایی به پنجره با OpenID Connect",
        "en": "Demo of an agency portal integrating with Panjereh through OpenID Connect",
    },
    # Error page
    "error_title": {"fa": "ورود انجام نشد", "en": "Sign-in did not complete"},
    "error_title_generic": {"fa": "خطا", "en": "Error"},
    "error_code": {"fa": "کد خطا", "en": "Error code"},
    "try_again": {"fa": "تلاش دوباره", "en": "Try again"},
    "back_home": {"fa": "بازگشت به صفحهٔ اصلی", "en": "Back to the home page"},
    "err_access_denied": {
        "fa": "شما اجازهٔ ارسال اطلاعات به این سامانه را ندادید، بنابراین ورود انجام نشد. هر زمان خواستید می‌توانید دوباره تلاش کنید.",
        "en": "You chose not to share your information with this portal, so you were not signed in. You can try again whenever you like.",
    },
    "err_provider_unavailable": {
        "fa": "در حال حاضر ارتباط با پنجره برقرار نمی‌شود. لطفاً چند دقیقهٔ دیگر دوباره تلاش کنید.",
        "en": "Panjereh cannot be reached right now. Please try again in a few minutes.",
    },
    "err_provider_error": {
        "fa": "پاسخ پنجره قابل تأیید نبود و برای حفظ امنیت شما پذیرفته نشد. لطفاً دوباره تلاش کنید.",
        "en": "The response from Panjereh could not be verified and was rejected for your safety. Please try again.",
    },
    "err_issuer_mismatch": {
        "fa": "پاسخ ورود از صادرکنندهٔ مورد انتظار نیامده بود و برای حفظ امنیت شما پذیرفته نشد.",
        "en": "The sign-in response did not come from the expected issuer and was rejected for your safety.",
    },
    "err_state": {
        "fa": "این درخواست ورود منقضی شده یا معتبر نیست. لطفاً دوباره وارد شوید.",
        "en": "This sign-in request has expired or is not valid. Please sign in again.",
    },
    "err_login_required": {
        "fa": "برای ادامه باید در پنجره وارد شوید.",
        "en": "You need to sign in to Panjereh to continue.",
    },
    "err_generic": {
        "fa": "ورود کامل نشد. لطفاً دوباره تلاش کنید.",
        "en": "Sign-in could not be completed. Please try again.",
    },
    "err_logout_csrf": {
        "fa": "درخواست خروج معتبر نبود. لطفاً از دکمهٔ «خروج» در صفحهٔ اصلی استفاده کنید.",
        "en": "The sign-out request was not valid. Please use the “Sign out” button on the home page.",
    },
    "err_not_found": {
        "fa": "صفحهٔ مورد نظر پیدا نشد.",
        "en": "The page you asked for was not found.",
    },
    "err_bad_request": {
        "fa": "این درخواست پشتیبانی نمی‌شود.",
        "en": "This request is not supported.",
    },
}


def current_language() -> str:
    return getattr(g, "lang", DEFAULT_LANGUAGE)


def translate(key: str, lang: str | None = None, **kwargs: object) -> str:
    """Return ``key`` in ``lang`` (default: the request's language)."""
    lang = lang or current_language()
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**kwargs) if kwargs else text
