"""``gsp`` commands for accounts and proposals (bootstrap and scripts)."""
