"""``jupyterhub-singleuser`` for the users' servers, started ~1-2 s sooner.

    python -m hub.singleuser --config=hub/singleuser_config.py

jupyter_server imports jupyter_events, whose ``jsonschema`` format checker imports
``rfc3987_syntax`` when installed; that module compiles ~35 Lark grammars at import:
0.9-1.8 s of a server start of 2.5-4 s here. Those grammars check only the ``iri`` and
``iri-reference`` formats, which no schema of Jupyter or of this project uses. Marking the
module absent before anything is imported makes jsonschema skip those two checks
(``from rfc3987_syntax import ...`` then raises ImportError, which jsonschema expects when
the package is not installed). Everything else is ``jupyterhub.singleuser.main``.
"""

import sys

# Set before jupyter_server is imported: jsonschema decides at its first import.
sys.modules.setdefault("rfc3987_syntax", None)

if __name__ == "__main__":
    from jupyterhub.singleuser import main

    sys.exit(main())
