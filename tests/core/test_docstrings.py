"""Public functions carry numpydoc docstrings whose sections match their signatures.

The style (DESIGN.md §7, issue 13) asks for numpydoc docstrings on the public functions of
``pipeline`` and of the service's domain layers. This test walks the source with
``numpydoc``'s own AST validator (``numpydoc.hooks.validate_docstrings.AstValidator``, the
one its pre-commit hook uses) instead of importing the packages: importing ``pipeline`` and
``gsp_extension.engine`` costs about 5 s cold (astropy, specutils, dask), the walk well
under a second.

Checked, for every module-level function without a leading underscore that a module
defines (whether or not ``__all__`` lists it), in modules whose path has no private part:

- GL08: it has a docstring;
- SS01, SS03, SS06: a summary line, ending with a period, on one line;
- PR01, PR02, PR03: the Parameters section names every parameter of the signature and no
  other (``*args``/``**kwargs`` as written; a stale name left after a rename fails), in the
  signature's order (a caller passing them by position reads that order);
- RT01: a function that returns a value has a Returns section;
- YD01: a generator has a Yields section.

A ``# numpydoc ignore=CODE`` comment on a ``def`` line waives that check for the function
(numpydoc's own convention); use it where a section would only repeat the obvious.

Style points are left to review: they do not mislead a reader the way a missing, stale or
misordered section does. SS05 (infinitive verb) in particular is only numpydoc's heuristic
"the first word does not end in a single s": it flags noun summaries in the plural
("Columns of ...") and passes the same summaries in the singular ("The ...", "A ..."), so
enforcing it would reword a few of them and leave the rest as they are.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from pathlib import Path

import pytest
from numpydoc.hooks.validate_docstrings import AstValidator
from numpydoc.validate import ERROR_MSGS, validate

ROOT = Path(__file__).resolve().parents[2]

# The packages walked: the science, and the service's domain layers (the API's request
# handlers are thin, and the OpenAPI document describes them instead).
PACKAGES = (
    "pipeline",
    "gsp_extension/store",
    "gsp_extension/engine",
    "gsp_extension/security",
)

CHECKS = frozenset({"GL08", "SS01", "SS03", "SS06", "PR01", "PR02", "PR03", "RT01", "YD01"})

# Functions not documented yet, one dotted name a line. The list only shrinks: an entry
# whose function is now documented (or gone) fails the test, so it cannot go stale; a new
# undocumented public function fails because it is not there.
GAPS_FILE = Path(__file__).with_name("docstring_gaps.txt")
KNOWN_GAPS = frozenset(
    line.strip()
    for line in GAPS_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)


def public_functions(path: Path, module: str):
    """Yield the public module-level functions of one source file.

    Parameters
    ----------
    path : pathlib.Path
        The ``.py`` file.
    module : str
        Its dotted module name, used to name the functions.

    Yields
    ------
    tuple of (str, ast.Module, ast.FunctionDef)
        The function's dotted name, the parsed module and the function's node.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not (
            node.name.startswith("_")
        ):
            yield f"{module}.{node.name}", tree, node


def module_files():
    """List the public modules of the walked packages.

    Returns
    -------
    list of tuple of (pathlib.Path, str)
        Each file and its dotted module name; modules or packages with a private name
        (``_x.py``, ``_x/``) are left out, ``__init__.py`` is kept.
    """
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if any(p.startswith("_") and p != "__init__" for p in parts):
                continue
            module = ".".join(p for p in parts if p != "__init__")
            found.append((path, module))
    return found


class _Validator(AstValidator):
    """numpydoc's AST validator, reading each file once.

    Its ``method_source`` re-reads and re-splits the whole file for every function (2.5 s
    of the walk's 6 s under a profiler); here the lines of each file are kept.
    """

    @property
    def method_source(self) -> str:
        lines = _lines(str(self.source_file_name))
        return "".join(lines[self.node.lineno - 1 : self.node.end_lineno])


@functools.cache
def _lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines(keepends=True)


def problems(path: Path, tree: ast.Module, node: ast.AST, name: str) -> list[str]:
    """Validate one function's docstring with numpydoc and keep the checked codes.

    Parameters
    ----------
    path : pathlib.Path
        The file defining the function (numpydoc reads the function's source from it).
    tree : ast.Module
        The parsed file: the function's parent in numpydoc's ancestry.
    node : ast.FunctionDef or ast.AsyncFunctionDef
        The function.
    name : str
        Its dotted name, for the messages.

    Returns
    -------
    list of str
        ``"CODE message"`` for each failed check of `CHECKS`; empty when it passes.
    """
    result = validate(name, _Validator, ast_node=node, filename=path, ancestry=[tree])
    found = [f"{code} {message}" for code, message in result["errors"] if code in CHECKS]
    # numpydoc's AST validator sees a generator only when a `yield` is a statement of the
    # function's own body, not inside a loop: look through the body as Python does.
    if not any(p.startswith("YD01") for p in found) and _yields(node):
        doc = ast.get_docstring(node) or ""
        if "Yields\n" not in doc:
            found.append(f"YD01 {ERROR_MSGS['YD01']}")
    return found


def _yields(node: ast.AST) -> bool:
    """Tell whether a function's body (nested functions aside) yields."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        child = todo.pop()
        if isinstance(child, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(child))
    return False


@functools.cache
def all_problems() -> dict[str, list[str]]:
    """Validate every public function of the walked packages.

    Returns
    -------
    dict of str to list of str
        Dotted function name to its problems, for every function walked (an empty list
        when it passes). Computed once a session: both tests below read it.
    """
    found = {}
    for path, module in module_files():
        for name, tree, node in public_functions(path, module):
            found[name] = problems(path, tree, node, name)
    return found


def test_public_functions_have_numpydoc_sections_matching_their_signatures():
    found = all_problems()
    # the walk really reaches the packages (a wrong root would pass on nothing)
    assert len(found) > 300 and "pipeline.night.reduce_frame" in found
    failing = {
        f"{name}: {'; '.join(codes)}"
        for name, codes in found.items()
        if codes and name not in KNOWN_GAPS
    }
    assert not failing, "numpydoc docstring problems:\n" + "\n".join(sorted(failing))


def test_known_gaps_are_still_gaps():
    found = all_problems()
    fixed = sorted(name for name in KNOWN_GAPS if not found.get(name))
    assert not fixed, "documented or removed, take them off KNOWN_GAPS: " + ", ".join(fixed)


SAMPLE = '''
def documented(frame, scale=1.0, *args, **kwargs):
    """Scale a frame.

    Parameters
    ----------
    frame : numpy.ndarray
        The pixels.
    scale : float
        The factor.
    *args, **kwargs
        Passed on.

    Returns
    -------
    numpy.ndarray
        The scaled pixels.
    """
    return frame * scale


def stale(frame, factor):
    """Scale a frame.

    Parameters
    ----------
    frame : numpy.ndarray
        The pixels.
    scale : float
        The factor, renamed since.
    """
    return frame * factor


def misordered(frame, scale):
    """Scale a frame.

    Parameters
    ----------
    scale : float
        The factor.
    frame : numpy.ndarray
        The pixels.

    Returns
    -------
    numpy.ndarray
        The scaled pixels.
    """
    return frame * scale


def undocumented(frame):
    return frame


def summary_on_two_lines(frame):
    """Scale a frame
    by nothing at all.
    """


def generator(frames):
    """Go through the frames.

    Parameters
    ----------
    frames : list
        The frames.
    """
    for frame in frames:
        yield frame


def waived(frame):  # numpydoc ignore=GL08
    return frame


def _private(frame):
    return frame
'''


def test_the_check_catches_missing_stale_and_malformed_sections(tmp_path):
    # The checker itself can fail: each kind of problem in a sample module is reported,
    # and a correct docstring (with *args/**kwargs), a waived check and a private
    # function are not.
    path = tmp_path / "sample.py"
    path.write_text(textwrap.dedent(SAMPLE), encoding="utf-8")
    found = {
        name: problems(path, tree, node, name)
        for name, tree, node in public_functions(path, "sample")
    }
    codes = {name: sorted(p.split()[0] for p in found[name]) for name in found}
    assert codes == {
        "sample.documented": [],
        "sample.stale": ["PR01", "PR02", "RT01"],
        "sample.misordered": ["PR03"],
        "sample.undocumented": ["GL08"],
        "sample.summary_on_two_lines": ["PR01", "SS06"],
        "sample.generator": ["YD01"],
        "sample.waived": [],
    }
    assert "'factor'" in found["sample.stale"][0] and "'scale'" in found["sample.stale"][1]


@pytest.mark.parametrize("module", ["pipeline", "gsp_extension.store"])
def test_the_walk_skips_private_modules_and_keeps_packages(module):
    names = {m for _, m in module_files()}
    assert module in names
    assert not any(part.startswith("_") for m in names for part in m.split("."))


if __name__ == "__main__":
    # `python tests/core/test_docstrings.py` prints every current problem (the gaps list).
    for function, codes in sorted(all_problems().items()):
        if codes:
            print(function, "|", "; ".join(codes))
