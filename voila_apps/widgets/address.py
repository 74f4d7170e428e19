"""The page's address follows the view: what is shown is in the query string.

The kernel cannot change the browser's address by itself, and Voilà gives no way to
run script in the page. Two hidden widgets do it, with nothing to install: an ``HTML``
widget whose value carries an ``<img onerror=...>`` that runs once each time the
value changes (``history.pushState`` / ``replaceState``, and, the first time, a
``popstate`` listener), and a ``Text`` widget into which that listener writes the
address's query string when Back or Forward is used, sending it to the kernel as any
typed text is sent. The page's own query string reaches the kernel at start as
``QUERY_STRING`` (Voilà sets it), so a copied address opens the same view.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from urllib.parse import urlencode

import ipywidgets as w

#: The script of the hidden image: installs (once) what applies each address the kernel
#: sends (a MutationObserver on the hidden HTML widget: an image's error event alone
#: came one push late in Chromium) and the listener that reports Back/Forward to the
#: kernel through the hidden text box; then applies the image's own address.
_SCRIPT = """(function(img){
if (!window.__gspAddress) {
  window.__gspAddress = function(el){
    var q = el.dataset.query, how = el.dataset.how;
    if (how && window.location.search !== q) {
      window.history[how](null, '', window.location.pathname + q + window.location.hash);
    }
  };
  var out = img.closest('.gsp-address-out');
  new MutationObserver(function(){
    var el = out.querySelector('[data-push]');
    if (el && el.dataset.done !== '1') { el.dataset.done = '1'; window.__gspAddress(el); }
  }).observe(out, {childList: true, subtree: true});
  window.addEventListener('popstate', function(){
    var box = document.querySelector('.gsp-address-in input');
    if (!box) return;
    box.value = window.location.search.replace(/^\\?/, '') + '#' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
    box.dispatchEvent(new Event('change', {bubbles: true}));
  });
}
if (img.dataset.done !== '1') { img.dataset.done = '1'; window.__gspAddress(img); }
})(this)"""


def encode(state: dict[str, object]) -> str:
    """``?a=1&b=x`` for the non-empty entries of ``state`` (in its order); ``""``
    when nothing is left."""
    pairs = [(k, str(v)) for k, v in state.items() if v not in (None, "", False)]
    return "?" + urlencode(pairs) if pairs else ""


class AddressBar(w.Box):
    """Hidden: pushes addresses to the browser, reports Back/Forward.

    Parameters
    ----------
    on_navigate : callable
        Called with the query string (no ``?``) the browser went back or forward to.
    """

    def __init__(self, on_navigate: Callable[[str], None]) -> None:
        self.on_navigate = on_navigate
        self.pushes = 0
        self.current = ""  # the query string last pushed or navigated to
        self.script = w.HTML(_dom_classes=("gsp-address-out",))
        self.inbox = w.Text(continuous_update=True, _dom_classes=("gsp-address-in",))
        self.inbox.observe(self._navigated, "value")
        super().__init__(
            [self.script, self.inbox],
            layout=w.Layout(display="none"),
            _dom_classes=("gsp-address",),
        )

    def push(self, query: str, replace: bool = False) -> bool:
        """Show ``query`` (``?...`` or ``""``) in the address bar: a new history entry,
        or (``replace``) in place of the current one. False when it is shown already."""
        if query == self.current:
            return False
        self.current = query
        self._run("replaceState" if replace else "pushState")
        return True

    def install(self) -> None:
        """Install the Back/Forward listener without changing the address."""
        self._run(None)

    def _run(self, how: str | None) -> None:
        self.pushes += 1
        # The counter makes each value new (the same value twice would not be sent).
        self.script.value = (
            f"<img src='data:,{self.pushes}' alt='' style='display:none' "
            f"data-push='{self.pushes}' data-query='{html.escape(self.current, quote=True)}' "
            f"data-how='{how or ''}' onerror=\"{html.escape(_SCRIPT, quote=True)}\">"
        )

    def _navigated(self, change: dict) -> None:
        raw = str(change["new"] or "")
        if not raw:
            return
        query = raw.split("#", 1)[0]
        self.current = "?" + query if query else ""
        self.on_navigate(query)
