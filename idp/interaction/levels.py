"""Levels of assurance (``acr``) and authentication methods (``amr``, RFC 8176).

The values are stable identifiers that agencies put in their requests and
check in ID tokens; never change one, only add.
"""

LOA1 = "urn:panjereh:loa:1"  # national ID + SMS code to the registered mobile
LOA2 = "urn:panjereh:loa:2"  # loa1, registry and mobile ownership verified live at this login
LOA3 = "urn:panjereh:loa:3"  # loa2 plus an independent second factor (authenticator app)

ACR_VALUES = (LOA1, LOA2, LOA3)
RANK = {value: rank for rank, value in enumerate(ACR_VALUES, start=1)}

AMR_SMS = ("sms", "otp")


def rank(acr: str | None) -> int:
    return RANK.get(acr or "", 0)
