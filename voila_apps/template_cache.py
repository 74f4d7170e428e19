"""Voilà's page templates compiled once per process, not again for every page.

Voilà 0.5.8 renders each page with a new ``VoilaExporter``, whose new Jinja environment
parses and compiles the whole template chain again (the apps' ``gsp`` template, Voilà's
and nbconvert's ``lab`` and ``base``: 14 files, ~0.2 s of CPU on a quiet machine and
0.3-0.5 s on a loaded one) before the page's first byte: at every cold login, warm login
and reload. Jinja's own remedy is a bytecode cache on the environment; Voilà offers no
setting for the exporter's environment, so :func:`install` makes its page renderer
(``voila.notebook_renderer``) use :class:`CachingVoilaExporter`, whose environments share
one in-memory :class:`CompiledTemplates` cache. :func:`warm_templates` renders an app
notebook once: the forkserver calls it (through :func:`hub.singleuser.warm_up`) before
it forks the users' servers, so that even a server's first page finds them compiled.

A cached template is used only for the same source (Jinja's checksum) and the same
file, compiled by an environment of the same compile-time settings
(:func:`compile_signature`); anything else is compiled as before.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from voila.exporter import VoilaExporter


def _pass_arg(function) -> str:
    """What Jinja passes a filter or test first (``@pass_context`` and the like mark it
    so): ``context``, ``eval_context``, ``environment`` or nothing."""
    return str(getattr(function, "jinja_pass_arg", ""))


def compile_signature(environment) -> str:
    """What of a Jinja environment the compiled code of a template depends on.

    The syntax (delimiters, whitespace rules), async mode, optimizer, autoescape,
    extensions, and how each filter and test is called (the compiler passes the
    context, eval context or environment to those that ask for it).
    """
    env = environment
    parts = [
        type(env).__qualname__,
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.is_async,
        env.optimized,
        env.autoescape if isinstance(env.autoescape, bool) else repr(env.autoescape),
        env.finalize is not None and _pass_arg(env.finalize),
        sorted(env.extensions),
        sorted((name, _pass_arg(f)) for name, f in env.filters.items()),
        sorted((name, _pass_arg(f)) for name, f in env.tests.items()),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class CompiledTemplates(BytecodeCache):
    """An in-memory Jinja bytecode cache shared by environments: compiled code objects
    by template name, file and environment (:func:`compile_signature`), kept with their
    source's checksum."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, object]] = {}
        self._lock = threading.Lock()

    def get_bucket(self, environment, name: str, filename: str | None, source: str) -> Bucket:
        """The bucket of ``name`` as Jinja's, keyed also by the environment's signature."""
        key = self.get_cache_key(f"{compile_signature(environment)}|{name}", filename)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill ``bucket`` with the code compiled before from the same source, if any."""
        with self._lock:
            entry = self._code.get(bucket.key)
        if entry is not None and entry[0] == bucket.checksum:
            bucket.code = entry[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep the code Jinja just compiled."""
        with self._lock:
            self._code[bucket.key] = (bucket.checksum, bucket.code)

    def clear(self) -> None:
        """Forget every compiled template."""
        with self._lock:
            self._code.clear()

    def __len__(self) -> int:
        return len(self._code)


#: The process's compiled templates (inherited by the forked servers).
COMPILED = CompiledTemplates()


class CachingVoilaExporter(VoilaExporter):
    """Voilà's exporter whose Jinja environment keeps its compiled templates in
    :data:`COMPILED`."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = COMPILED
        return environment


def install() -> None:
    """Make Voilà's page renderer create :class:`CachingVoilaExporter` (idempotent)."""
    import voila.notebook_renderer

    if voila.notebook_renderer.VoilaExporter is VoilaExporter:
        voila.notebook_renderer.VoilaExporter = CachingVoilaExporter


def warm_templates(template: str, notebook: Path, data_dir: str) -> int:
    """Render ``notebook`` once with ``template`` (without a kernel): its templates are
    compiled into :data:`COMPILED`; how many are kept.

    Parameters
    ----------
    template : str
        The Voilà template's name.
    notebook : pathlib.Path
        An app notebook (the cells rendered do not matter: every page extends the same
        templates).
    data_dir : str
        The Jupyter data folder the users' servers put first on ``JUPYTER_PATH``
        (where ``template`` is): put there while rendering, so that the templates and
        their static files found are the servers' own.
    """
    import nbformat
    from voila.paths import collect_template_paths

    install()
    nb = nbformat.read(notebook, as_version=4)
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [data_dir, *[p for p in (saved or "").split(os.pathsep) if p and p != data_dir]]
    )
    try:
        paths = collect_template_paths(["voila", "nbconvert"], template)
        return _render_once(template, nb, notebook.stem, paths)
    finally:
        if saved is None:
            del os.environ["JUPYTER_PATH"]
        else:
            os.environ["JUPYTER_PATH"] = saved


def _render_once(template: str, nb, name: str, paths: list[str]) -> int:
    """Render ``nb`` as a page is rendered, its kernel never started."""
    from traitlets.config import Config

    exporter = CachingVoilaExporter(
        template_paths=paths, template_name=template, config=Config(), base_url="/"
    )
    render_page(exporter, nb, name, "/", kernel_id="warm-up")
    return len(COMPILED)


def render_page(exporter, nb, name: str, base_url: str, kernel_id: str) -> str:
    """The page ``exporter`` renders for ``nb`` as Voilà's handler renders it (progressive
    rendering), with no kernel started: the HTML.

    Parameters
    ----------
    exporter : voila.exporter.VoilaExporter
        The page's exporter (its template and paths).
    nb : nbformat.NotebookNode
        The app notebook.
    name : str
        The notebook's name (the page title).
    base_url : str
        The server's base URL (``/user/<name>/``).
    kernel_id : str
        The id the page would carry of its kernel.
    """
    import asyncio

    page_config = {"fullStaticUrl": base_url + "voila/static", "baseUrl": base_url}
    context = {
        "frontend": "voila",
        "main_js": "voila.js",
        # the lab template starts the kernel; the apps' template only reads its id
        "kernel_start": functools.partial(lambda *a, **k: "", kernel_id=kernel_id),
        "notebook_execute": None,
        "progressive_rendering": True,
        "cell_generator": None,
    }
    resources = {
        "base_url": base_url,
        "theme": "light",
        "template": exporter.template_name,
        "metadata": {"name": name},
        "page_config": page_config,
    }

    async def render() -> str:
        return "".join(
            [
                html
                async for html, _ in exporter.generate_from_notebook_node(
                    nb, resources=resources, extra_context=context, page_config=page_config
                )
            ]
        )

    return asyncio.run(render())
