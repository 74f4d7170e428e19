"""Accounts on the domain side: mail, signed set-password links, invitations.

Both the hub (reset and first-password pages, ``gsp user``) and the gsp service (a new
collaborator's invitation) use these, so they live below both (``hub`` imports
``gsp_extension``, never the reverse).

=============  ====================================================================
``mail``       :class:`~gsp_extension.accounts.mail.Mailer`: SMTP or an outbox folder
``links``      signed, expiring, single-use set-password links; the public address
``invites``    the set-password emails (invitation, reset)
=============  ====================================================================
"""
