"""Widgets of the GSP Live Voilà apps, one concern a module.

Every widget takes the API client as an argument (:class:`gsp_extension.client.GSPClient`
or any object with the same methods), so that the apps hold no more rights than the
user's token and the widgets can be unit-tested with an in-memory stand-in.
"""
