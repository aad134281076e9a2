"""A citizen's browser over real HTTP: a ``requests.Session`` that submits the pages' forms."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from tests.support import OTP_RUN, Forms, step_in

def step_of(response: requests.Response) -> str | None:
    """``identify``, ``verify``, ``factor`` or ``consent`` when the response is one of the provider's
    sign-in pages (shown by the answer to the step before it, whatever its address)."""
    if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("text/html"):
        return None
    return step_in(response.text)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class CitizenBrowser:
    """Cookies, redirects and forms, the way a browser handles them (no JavaScript needed)."""

    def __init__(self, stack, person: dict):
        self.stack = stack
        self.person = person
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "panjereh-e2e/1.0 (requests)"

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get(self, url: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 15)
        return self.http.get(url, **kw)

    def submit(self, response: requests.Response, field: str, values: dict | None = None,
               button: tuple[str, str] | None = None, **kw) -> requests.Response:
        """Fill the form holding ``field`` (its hidden inputs, e.g. csrf_token, come along) and post it."""
        form = Forms(response.text).with_field(field)
        assert form["method"] == "post", form
        data = dict(form["fields"])
        data.update(values or {})
        if button:
            assert button in form["buttons"], f"no button {button} in {form['buttons']}"
            data[button[0]] = button[1]
        kw.setdefault("timeout", 15)
        return self.http.post(urljoin(response.url, form["action"] or response.url), data=data, **kw)

    # --- the citizen's steps ---
    def last_code(self) -> str:
        texts = [m["text"] for m in self.stack.sms_lines() if m["to"] == self.person["mobile"]]
        assert texts, f"no SMS was sent to {self.person['mobile']}"
        match = OTP_RUN.search(texts[-1])
        assert match, f"no 6-digit code in the SMS {texts[-1]!r}"
        return match.group(1)

    def identify(self, page: requests.Response, national_id: str | None = None) -> requests.Response:
        assert step_of(page) == "identify", f"expected the identify page, got {page.url}"
        assert "csrf_token" in Forms(page.text).with_field("national_id")["fields"]
        before = self.stack.sms_count()
        page = self.submit(page, "national_id", {"national_id": national_id or self.person["national_id"],
                                                 "mobile": self.person["mobile"]})
        assert page.status_code == 200, page.text[:2000]
        assert step_of(page) == "verify", f"expected the verify page, got {page.url}"
        assert self.stack.sms_count() == before + 1, "exactly one SMS is sent for a matching pair"
        return page

    def verify(self, page: requests.Response, code: str | None = None, **kw) -> requests.Response:
        assert step_of(page) == "verify", f"expected the verify page, got {page.url}"
        return self.submit(page, "otp", {"otp": code or self.last_code()}, **kw)

    def decide(self, page: requests.Response, decision: str = "allow", **kw) -> requests.Response:
        assert step_of(page) == "consent", f"expected the consent page, got {page.url}"
        return self.submit(page, "decision", button=("decision", decision), **kw)

    def sign_in(self, portal_url: str, *, lang: str | None = None) -> requests.Response:
        """From the portal's home page to the consent page (identify, SMS code, verify)."""
        home = self.get(portal_url + "/" + (f"?lang={lang}" if lang else ""))
        assert home.status_code == 200
        assert 'id="sign-in"' in home.text, "the portal offers a sign-in button"
        page = self.get(portal_url + "/login")
        assert page.status_code == 200, page.text[:2000]
        page = self.identify(page)
        page = self.verify(page)
        assert page.status_code == 200, page.text[:2000]
        return page
