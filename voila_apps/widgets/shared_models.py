"""One blank layout and one style per kind, shared by the controls made without their own.

ipywidgets gives every control made without ``layout=`` a ``Layout`` of its own, and
most controls a style (``ButtonStyle``, ``HTMLStyle``, ...) of their own too: each is a
widget model that the kernel opens in the browser (a comm message, ~1 kB for a layout's
~40 CSS properties) and the browser builds. On the data browser's page they were
~200 of the ~330 models, and more than half of the bytes, for nothing: almost none of
them is ever changed. With :func:`install`, the core controls made without a layout or
style share one blank instance of each kind instead.

A shared instance is frozen: changing one of its properties (``widget.layout.display =
"none"`` on a widget made without a layout) raises ``AttributeError`` instead of
changing every widget that shares it. A widget whose layout or style changes is given
its own at creation (``layout=w.Layout(display="none")``), as the app's widgets are.
Widgets of other packages (ipympl's figure) keep their own: their front ends may
change them.
"""

from __future__ import annotations

import ipywidgets as w

#: The model module of the core controls (Box, Button, HTML, Text, ...).
CONTROLS = "@jupyter-widgets/controls"
#: The traits whose default instance is shared.
SHARED_TRAITS = ("layout", "style")

_shared: dict[type, w.Widget] = {}
_frozen_classes: dict[type, type] = {}


def _frozen_class(klass: type) -> type:
    """A subclass of ``klass`` whose synced properties cannot change once frozen."""
    if klass not in _frozen_classes:

        def __setattr__(self, name, value, _klass=klass):
            if self.__dict__.get("_frozen") and name in self.keys:
                raise AttributeError(
                    f"this {_klass.__name__} is shared by every widget made without one: "
                    f"give the widget its own ({name!r} cannot change here)"
                )
            super(frozen, self).__setattr__(name, value)

        frozen = type(f"Shared{klass.__name__}", (klass,), {"__setattr__": __setattr__})
        _frozen_classes[klass] = frozen
    return _frozen_classes[klass]


def shared(klass: type) -> w.Widget:
    """The shared, frozen, default instance of ``klass`` (a Layout or a style class).

    Parameters
    ----------
    klass : type
        ``ipywidgets.Layout`` or a style class (``ButtonStyle``, ``HTMLStyle``, ...).

    Returns
    -------
    ipywidgets.Widget
        One instance per class for the whole kernel, made on first use.
    """
    instance = _shared.get(klass)
    if instance is None or instance.comm is None:  # (closed by a close_all)
        instance = _frozen_class(klass)()
        instance.__dict__["_frozen"] = True
        _shared[klass] = instance
    return instance


def share_defaults(widget: w.Widget) -> None:
    """Give ``widget`` the shared layout and style where it was made without its own.

    Called for every widget once it is built and before its model is sent to the
    browser (``Widget.on_widget_constructed``); the layout and style given to the
    constructor, and those of other packages' widgets, are left alone.
    """
    if getattr(widget, "_model_module", None) != CONTROLS:
        return
    traits = widget.traits()
    for name in SHARED_TRAITS:
        trait = traits.get(name)
        if trait is None or widget.trait_has_value(name):
            continue
        klass = getattr(trait, "klass", None)
        if isinstance(klass, type) and issubclass(klass, w.Widget):
            widget.set_trait(name, shared(klass))


def install() -> None:
    """Share the default layouts and styles of every control made from now on in this
    kernel (the app's page calls it once, before building the app)."""
    w.Widget.on_widget_constructed(share_defaults)


_layouts: dict[tuple, w.Layout] = {}


def shared_layout(**css: str) -> w.Layout:
    """A frozen ``Layout`` with these CSS properties, one per set of them in the kernel.

    For the widgets whose layout never changes (the buttons of every file's tabs and
    actions were a model each, remade at each click); a widget that is shown and
    hidden keeps a ``w.Layout`` of its own.

    Parameters
    ----------
    **css : str
        ``Layout`` properties (``width="auto"``, ``align_items="center"``, ...).

    Returns
    -------
    ipywidgets.Layout
        Frozen: setting one of its properties raises ``AttributeError``.
    """
    key = tuple(sorted(css.items()))
    layout = _layouts.get(key)
    if layout is None or layout.comm is None:
        layout = _frozen_class(w.Layout)(**css)
        layout.__dict__["_frozen"] = True
        _layouts[key] = layout
    return layout
