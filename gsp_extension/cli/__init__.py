"""The ``gsp`` command line: a dispatcher over subcommands registered as entry points."""
