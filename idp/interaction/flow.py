"""A citizen's login and consent as an explicit state machine.

An interaction starts when /authorize needs the citizen, keeps the original
request, and moves through named states. Every transition is guarded: a
request for a step the interaction is not at does nothing (the views send it on
to the step it is at), and a failure that ends the attempt clears what was
learned about the citizen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..security import random_token

IDENTIFY = "identify"  # waiting for national ID and mobile
VERIFY = "verify"      # a challenge was issued; waiting for the code
FACTOR = "factor"      # signed in; waiting for the second factor (step-up to loa3)
CONSENT = "consent"    # signed in; waiting for the citizen's decision
DONE = "done"

TRANSITIONS = {
    IDENTIFY: {VERIFY, FACTOR, CONSENT, DONE},
    VERIFY: {IDENTIFY, FACTOR, CONSENT, DONE},
    FACTOR: {IDENTIFY, CONSENT, DONE},
    CONSENT: {IDENTIFY, FACTOR, DONE},
    DONE: set(),
}


class InteractionError(Exception):
    """The interaction is unknown, expired or finished, or cannot make this move."""


@dataclass
class Interaction:
    id: str
    params: dict[str, list[str]]
    client_id: str
    state: str = IDENTIFY
    created_at: float = field(default_factory=time.time)
    reasons: list[str] = field(default_factory=list)
    challenge_id: str | None = None
    logged_in_at: float | None = None  # a login completed inside this interaction
    consented_at: float | None = None  # the citizen allowed the request inside this interaction
    consented_by: int | None = None  # ... and which citizen (account id) that was
    identified_live: bool = False  # registry and ownership answered live at this login (loa2)
    return_to: str | None = None   # account flows (no client): where to go once signed in
    required_acr: str | None = None  # account flows: the level the page needs
    intent: str | None = None  # account flows: what the citizen asked for, carried out once signed in

    @property
    def param(self):
        return {k: v[0] for k, v in self.params.items() if v}

    def move(self, state: str) -> None:
        if state not in TRANSITIONS[self.state]:
            raise InteractionError(f"cannot go from {self.state} to {state}")
        if state == IDENTIFY:
            self.challenge_id = None
        self.state = state


_UNREAD = object()


class Interactions:
    """Interactions in the key-value store, bound to the browser that started them."""

    def __init__(self, store, ttl: int):
        self.store = store
        self.ttl = ttl

    def new(self, params, client_id, reasons, **extra) -> Interaction:
        """An interaction not yet saved (the caller saves it once it is set up)."""
        return Interaction(random_token(24), params, client_id, reasons=list(reasons), **extra)

    def start(self, params, client_id, reasons, **extra) -> Interaction:
        interaction = self.new(params, client_id, reasons, **extra)
        self.save(interaction)
        return interaction

    @staticmethod
    def key(interaction_id: str) -> str | None:
        """Its key in the store (None for an id no interaction can have)."""
        return "interaction:" + interaction_id if 0 < len(interaction_id) < 64 else None

    def get(self, interaction_id: str, read=None) -> Interaction:
        """``read``: a function answering the store's value for a key, or a default when it has none
        (a value read ahead with the browser session); the store is asked otherwise."""
        key = self.key(interaction_id)
        data = None
        if key is not None:
            data = read(key, _UNREAD) if read is not None else _UNREAD
            if data is _UNREAD:
                data = self.store.get(key)
        if data is None:
            raise InteractionError("unknown or expired interaction")
        interaction = Interaction(**data)
        if interaction.state == DONE:
            raise InteractionError("interaction already finished")
        return interaction

    def save(self, interaction: Interaction, *entries: tuple[str, dict, int]) -> None:
        """``entries``: other values (key, value, lifetime) saved with it, in one round trip."""
        remaining = int(interaction.created_at + self.ttl - time.time())
        if remaining <= 0:
            raise InteractionError("interaction expired")
        # its fields as they are (the store serialises them at once): no deep copy, as asdict() makes
        if entries:
            self.store.put_many([*entries, (self.key(interaction.id), vars(interaction), remaining)])
        else:
            self.store.put(self.key(interaction.id), vars(interaction), remaining)

    def finish(self, interaction: Interaction) -> None:
        self.store.delete(self.key(interaction.id))
