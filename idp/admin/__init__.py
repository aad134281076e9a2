"""The agency registry: the service layer behind the admin console, the admin API
(``/admin/api/``), agency self-service (``/register``) and the ``idp`` commands.

Every function takes the :class:`~idp.admin.actors.Actor` who acts, checks
what it is asked, makes the change and writes it to the append-only admin
record (:mod:`idp.admin.record`) in the same transaction. Failures raise an
:class:`~idp.admin.errors.AdminError` whose ``status``, ``code`` and
``description`` a view can send as they are. Nothing here reads the Flask
request: views pass the actor (with its IP address and user agent).

Modules, and what a console needs from each:

- :mod:`.agencies` - ``list_agencies``, ``get_agency``, ``create_agency``,
  ``update_agency`` (suspending an agency suspends its active services).
- :mod:`.clients` - services: ``list_services``, ``get_service``,
  ``create_service`` (pending + activation proposal), ``update_service``
  (applied, or a proposal), ``set_keys``, ``rotate_secret`` (shown once),
  ``suspend_service`` (revokes live tokens), ``propose_activation``,
  ``retire_service``, ``activity``; ``register_by_operator`` for
  ``idp clients add``.
- :mod:`.proposals` - the two-person rule: ``list_proposals``,
  ``get_proposal``, ``approve``, ``reject``.
- :mod:`.record` - ``list_actions``, ``get_action`` (read-only).
- :mod:`.access_tokens` - initial access tokens for agencies: ``issue``, ``list_for``.
- :mod:`.accounts` - administrators: ``grant_admin``, ``revoke_admin``, ``administrators``.
- :mod:`.present` - the JSON shape of each object (never a secret).
- :mod:`.policy` - sensitive and privileged scopes, statuses.
- :mod:`.auth` - the bearer tokens the admin API accepts.
- :mod:`.self_service` - what RFC 7591/7592 endpoints need.
- :mod:`.openapi` - the admin API's OpenAPI document (the contract).
"""

from .actors import CLI_OPERATOR, Actor
from .errors import AdminError, Conflict, Forbidden, InvalidRequest, NotFound

__all__ = ["Actor", "AdminError", "CLI_OPERATOR", "Conflict", "Forbidden", "InvalidRequest", "NotFound"]
