"""Levels of assurance (``acr``) and authentication methods (``amr``, RFC 8176).

The values are stable identifiers that agencies put in their requests and
check in ID tokens; never change one, only add.
"""

LOA1 = "urn:panjereh:loa:1"  # national ID + SMS code to the registered mobile
LOA2 = "urn:panjereh:loa:2"  # loa1, registry and mobile ownership verified live at this login
LOA3 = "urn:panjereh:loa:3"  # loa2 plus an independent second factor (authenticator app)

ACR_VALUES = (LOA1, LOA2, LOA3)
RANK = {value: rank for rank, value in enumerate(ACR_VALUES, start=1)}

AMR_SMS = ("sms",)
AMR_MFA = ("sms", "otp", "mfa")  # SMS code and an authenticator app


def rank(acr: str | None) -> int:
    return RANK.get(acr or "", 0)


#: the highest level a sign-in can reach
ACHIEVABLE = LOA3


def requested_acr(params: dict, claims_request: dict | None, client_default: list | None) -> tuple[str | None, bool]:
    """The level the request and the service's registration ask for, and whether it is essential.

    The service's registered minimum is a floor no request can lower; an essential
    ``acr`` claim may raise it; ``acr_values`` is a preference."""
    floor = min(client_default, key=rank) if client_default else None
    acr_claim = ((claims_request or {}).get("id_token") or {}).get("acr") or {}
    if acr_claim.get("essential"):
        values = acr_claim.get("values") or ([acr_claim["value"]] if "value" in acr_claim else [])
        known = [v for v in values if v in RANK]
        asked = min(known, key=rank) if known else (values[0] if values else None)
        if floor and (asked is None or (asked in RANK and rank(asked) < rank(floor))):
            asked = floor
        return asked, True
    if floor:
        return floor, True
    preferred = [v for v in params.get("acr_values", "").split() if v in RANK]
    return (min(preferred, key=rank) if preferred else None), False


def achievable(acr: str | None) -> bool:
    return acr is None or (acr in RANK and rank(acr) <= rank(ACHIEVABLE))
