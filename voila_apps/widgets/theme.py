"""The apps' look: one style sheet, light and dark themes as CSS variables.

ipywidgets draw themselves with JupyterLab's ``--jp-*`` CSS variables; setting them on
the app's root element re-themes every widget inside it at once, so switching the
theme is one class change on the root, no reload.
"""

from __future__ import annotations

import ipywidgets as w

ROOT_CLASS = "gsp-app"

_PALETTES = {
    "dark": {
        "--gsp-bg": "#37474f",
        "--gsp-panel": "#455a64",
        "--gsp-head": "#263238",
        "--gsp-text": "#eceff1",
        "--gsp-muted": "#b0bec5",
        "--gsp-accent": "#00695c",
        "--gsp-accent-text": "#1de9b6",
        "--gsp-danger": "#d32f2f",
        "--gsp-row-border": "#607d8b",
        "--gsp-selected": "#263238",
    },
    "light": {
        "--gsp-bg": "#eceff1",
        "--gsp-panel": "#ffffff",
        "--gsp-head": "#cfd8dc",
        "--gsp-text": "#212121",
        "--gsp-muted": "#546e7a",
        "--gsp-accent": "#00796b",
        "--gsp-accent-text": "#00796b",
        "--gsp-danger": "#c62828",
        "--gsp-row-border": "#cfd8dc",
        "--gsp-selected": "#b2dfdb",
    },
}


def _vars(theme: str) -> str:
    p = _PALETTES[theme]
    own = "".join(f"{k}:{v};" for k, v in p.items())
    # JupyterLab's variables that ipywidgets use, mapped onto the palette.
    lab = (
        f"--jp-layout-color0:{p['--gsp-panel']};--jp-layout-color1:{p['--gsp-panel']};"
        f"--jp-layout-color2:{p['--gsp-head']};--jp-ui-font-color0:{p['--gsp-text']};"
        f"--jp-ui-font-color1:{p['--gsp-text']};--jp-content-font-color1:{p['--gsp-text']};"
        f"--jp-widgets-color:{p['--gsp-text']};--jp-widgets-label-color:{p['--gsp-text']};"
        f"--jp-widgets-readout-color:{p['--gsp-text']};"
        f"--jp-widgets-input-color:{p['--gsp-text']};"
        f"--jp-widgets-input-background-color:{p['--gsp-bg']};"
        f"--jp-widgets-input-border-color:{p['--gsp-row-border']};"
        f"--jp-border-color1:{p['--gsp-row-border']};--jp-border-color2:{p['--gsp-row-border']};"
        f"--jp-widgets-slider-active-handle-color:{p['--gsp-accent-text']};"
    )
    return own + lab


STYLE = f"""
<style>
body:has(.{ROOT_CLASS}) {{ margin:0; background: var(--gsp-page-bg, #37474f); }}
#rendered_cells {{ padding: 0 !important; }}
.jp-OutputArea-prompt, .jp-InputPrompt {{ display:none !important; }}
.{ROOT_CLASS} {{ font-family: Roboto, "Helvetica Neue", Arial, sans-serif; font-size: 14px;
  background: var(--gsp-bg); color: var(--gsp-text); min-height: 100vh; width: 100%; }}
.{ROOT_CLASS}.gsp-dark {{ {_vars("dark")} }}
.{ROOT_CLASS}.gsp-light {{ {_vars("light")} }}
.{ROOT_CLASS} .widget-label, .{ROOT_CLASS} .widget-html, .{ROOT_CLASS} .widget-checkbox
  {{ color: var(--gsp-text); }}
.gsp-nav {{ background: var(--gsp-head); padding: 4px 16px; align-items:center; }}
.gsp-nav .jupyter-button {{ background: transparent; color: var(--gsp-text); font-size: 15px; }}
.gsp-nav .jupyter-button.gsp-active {{ background: var(--gsp-bg); }}
.gsp-nav .gsp-user {{ color: var(--gsp-accent-text) !important; }}
.gsp-nav .gsp-logout {{ color: #ef5350 !important; }}
.gsp-title {{ font-size: 20px; font-weight: 500; color: var(--gsp-text); }}
.gsp-panel {{ background: var(--gsp-panel); margin: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.4); }}
.gsp-panel-head {{ background: var(--gsp-head); padding: 6px 14px; font-size: 17px;
  font-weight: 600; color: var(--gsp-text); align-items:center; }}
.gsp-badge {{ background: var(--gsp-accent); color: #fff; border-radius: 12px;
  padding: 2px 10px; font-size: 12px; font-weight: 600; }}
.gsp-filelist .jupyter-button {{ width: 100%; text-align: left; background: var(--gsp-panel);
  color: var(--gsp-text); border-bottom: 1px solid var(--gsp-row-border); height: 30px;
  overflow: hidden; text-overflow: ellipsis; }}
.gsp-filelist .jupyter-button.gsp-selected, .gsp-filelist .jupyter-button.mod-active
  {{ background: var(--gsp-selected); box-shadow: none; }}
.gsp-filelist.widget-toggle-buttons, .gsp-filelist.widget-toggle-buttons > div
  {{ display: flex; flex-direction: column; width: 100%; }}
.gsp-filelist.widget-toggle-buttons .jupyter-button {{ margin: 0; display: block; }}
.gsp-pager .jupyter-button {{ background: transparent; color: var(--gsp-text); min-width: 32px; }}
.gsp-pager .jupyter-button.gsp-current {{ background: var(--gsp-accent); color: #fff;
  border-radius: 16px; }}
.gsp-tabs .jupyter-button {{ background: var(--gsp-head); color: var(--gsp-text); height: 40px; }}
.gsp-tabs .jupyter-button.gsp-active {{ background: var(--gsp-panel); font-weight: 600; }}
.gsp-actions .jupyter-button {{ background: var(--gsp-accent); color: #fff; text-transform: uppercase; }}
.gsp-actions .jupyter-button.mod-danger, .gsp-danger {{ background: var(--gsp-danger) !important;
  color:#fff !important; }}
.{ROOT_CLASS} .jupyter-button.mod-primary {{ background: var(--gsp-accent); color: #fff; }}
table.gsp-table {{ border-collapse: collapse; width: 100%; color: var(--gsp-text); }}
table.gsp-table th {{ text-align:left; padding: 6px 8px; border-bottom: 1px solid var(--gsp-row-border); }}
table.gsp-table td {{ padding: 4px 8px; border-bottom: 1px solid var(--gsp-row-border); }}
table.gsp-table td.gsp-key {{ color: var(--gsp-accent-text); }}
table.gsp-table td.gsp-comment {{ color: var(--gsp-muted); }}
.gsp-muted {{ color: var(--gsp-muted); }}
.gsp-error {{ color: #ff8a80; font-weight: 600; }}
.gsp-ok {{ color: var(--gsp-accent-text); }}
.gsp-help {{ color: var(--gsp-muted); font-size: 12px; line-height: 1.3; }}
.gsp-footer {{ background: var(--gsp-head); padding: 10px; justify-content: space-around;
  color: var(--gsp-text); }}
.gsp-grid .jupyter-button {{ background: transparent; color: var(--gsp-accent-text);
  text-align:left; }}
.gsp-grid.widget-hbox > .jupyter-widgets, .gsp-grid .widget-hbox > .jupyter-widgets {{ margin: 0; box-sizing: border-box; min-width: 0;
  flex-shrink: 0; }}
.gsp-grid .gsp-cell {{ padding: 2px 4px; white-space: normal; overflow-wrap: break-word;
  font-size: 13px; align-self: center; }}
.gsp-grid .gsp-cell, .gsp-grid .gsp-cell * {{ line-height: 1.3; }}
.gsp-grid .gsp-cell > .widget-html-content {{ min-width: 0; }}
.gsp-filters > .widget-inline-hbox {{ width: 100%; max-width: 100%; box-sizing: border-box; }}
.gsp-filters > .widget-inline-hbox input, .gsp-filters > .widget-inline-hbox select
  {{ min-width: 0; }}
.gsp-grid .gsp-sort {{ padding: 0 4px; text-align: left; font-size: 13px; }}
.gsp-view-as-table.jupyter-button {{ background: transparent; color: var(--gsp-accent-text);
  font-size: 13px; height: 24px; }}
.gsp-sort {{ font-weight: 600; }}
.{ROOT_CLASS} .lm-TabBar-tab {{ background: var(--gsp-head); color: var(--gsp-text); }}
.{ROOT_CLASS} .lm-TabBar-tab.lm-mod-current {{ background: var(--gsp-panel); font-weight: 600; }}
.gsp-live {{ font-size: 12px; }}
.gsp-live-on {{ color: var(--gsp-accent-text); }}
.gsp-live-off {{ color: #ffb74d; }}
.gsp-lamp-note, .gsp-limits {{ font-size: 12px; }}
</style>
"""


def style_widget() -> w.HTML:
    """The style sheet, as a widget to place once in the page."""
    return w.HTML(STYLE, layout=w.Layout(display="none"))


def apply_theme(root: w.DOMWidget, theme: str) -> None:
    """Switch ``root`` (the app's outermost box) to ``theme`` ("dark" or "light")."""
    if theme not in _PALETTES:
        raise ValueError(f"theme {theme!r} is not one of {sorted(_PALETTES)}")
    for name in _PALETTES:
        root.remove_class(f"gsp-{name}")
    root.add_class(ROOT_CLASS)
    root.add_class(f"gsp-{theme}")


def theme_of(root: w.DOMWidget) -> str | None:
    """The theme class set on ``root``."""
    for name in _PALETTES:
        if f"gsp-{name}" in root._dom_classes:
            return name
    return None
