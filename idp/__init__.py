"""Panjereh: the national single sign-on for government services (an OpenID Connect provider)."""
