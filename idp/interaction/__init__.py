"""The login/consent interaction: what joins the protocol layer and authentication."""
