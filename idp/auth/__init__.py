"""Proving who a citizen is: identification, one-time codes, sign-in sessions."""
