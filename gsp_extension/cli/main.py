"""Entry point of the ``gsp`` console script.

Subcommands are registered in ``pyproject.toml`` under the entry-point group
``gsp.commands``; each names a module exposing ``HELP`` (one line), ``add_arguments``
(fills an :class:`argparse.ArgumentParser`) and ``run`` (takes the parsed namespace,
returns the exit code). Modules are imported only when their command is run, so
``gsp simulate`` does not pay for importing the web stack, and ``gsp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

GROUP = "gsp.commands"


def _commands() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def _help_line(module_name: str) -> str:
    # The one-line help is read from the module source without importing it, so that
    # listing commands does not import astropy, jupyterhub, etc.
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return "(not installed)"
    import ast

    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets
        ):
            if isinstance(node.value, ast.Constant):
                return str(node.value.value)
    return ""


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only the subcommand named by ``load`` is imported."""
    commands = _commands()
    parser = argparse.ArgumentParser(
        prog="gsp",
        description="GSP Live: Goodman spectroscopic pipeline, live on Jupyter.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in sorted(commands):
        module_name = commands[name]
        if name == load:
            module = importlib.import_module(module_name)
            sp = sub.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(sp)
            sp.set_defaults(_run=module.run)
        else:
            sub.add_parser(name, help=_help_line(module_name), add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _commands()
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load=chosen if chosen in commands else None)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
