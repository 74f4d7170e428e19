"""``jupyterhub-singleuser`` for the users' servers: ``python -m hub.singleuser``.

    python -m hub.singleuser --config=hub/singleuser_config.py

The command :class:`hub.spawners.ForkserverStart` recognises and :mod:`hub.forkserver`
takes over (it has imported the server once, so a start is a fork); run by ``Popen`` it
is ``jupyterhub.singleuser.main`` after forking the page kernels' template
(:mod:`hub.kernel_template`). :func:`warm_up` is what the
forkserver does once, before it forks, of what each server would do on its first page.
"""

import sys


def warm_up() -> None:
    """Compile what a fresh server compiles for its first Voilà page, once per process.

    The first page of a server read and validated its notebook with nbformat, whose
    JSON-schema validator is compiled to Python (fastjsonschema) on first use: ~0.1 s
    of CPU on a cold login's path, every time, as each server is a new process. Done
    here for the apps' notebooks, both ways the server validates them (its contents
    manager strictly, nbconvert with added properties allowed); the forkserver calls
    this before forking, so every forked server holds the compiled validators. Also
    the machine's network interfaces, which the first kernel start looks up, and the
    Voilà page's Jinja templates, compiled (~0.2-0.5 s of CPU,
    :mod:`voila_apps.template_cache`) where the server's page renderer finds them.
    """
    import nbformat
    from jupyter_client.localinterfaces import localhost

    from hub.platform import app_notebooks
    from voila_apps.config import TEMPLATE, template_root
    from voila_apps.template_cache import warm_templates

    for path in app_notebooks():
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.validate(notebook)
        nbformat.validate(notebook, relax_add_props=True)
    localhost()
    # The servers look templates up with the apps' folder first on JUPYTER_PATH
    # (voila_apps.config.configure_voila_template, run by their config after the fork).
    browser = next(p for p in app_notebooks() if p.stem == "data_browser")
    warm_templates(TEMPLATE, browser, str(template_root()))


def main():
    """Fork the page kernels' template (:mod:`hub.kernel_template`), then run
    ``jupyterhub-singleuser``: the template must be forked before the server runs any
    thread or makes a zmq context."""
    from hub.kernel_template import start_template

    start_template()
    from jupyterhub.singleuser import main as singleuser_main

    return singleuser_main()


if __name__ == "__main__":
    sys.exit(main())
