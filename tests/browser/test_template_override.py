"""A ``?template=`` in the page's address does not change the app's template.

Voilà 0.5.8 (pinned) takes the template from the address when
``VoilaConfiguration.allow_template_override`` allows it; the Voilà templates it ships
(lab, classic, reveal) link public CDNs and lack the app's own parts. The user
server's config refuses the override (``voila_apps.config``); here the pages say so, as
carol (PI of the second proposal) in a context of her own.
"""

from __future__ import annotations

from conftest import login

#: Only the app's template (voila_apps/jupyter/voila/templates/gsp) has this: it copies
#: the user's theme to the hub's pages.
OUR_TEMPLATE = "jupyterhub-bs-theme"
#: Voilà's own templates link Font Awesome from this CDN (the app's serves it locally).
CDN = "cdn.jsdelivr.net"


def test_a_template_in_the_address_is_ignored(browser, world):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        login(page, world.url, "carol")
        page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
        page.wait_for_selector(".gsp-file-index .gsp-filelist .jupyter-button", timeout=120_000)
        render = page.url.split("?")[0]
        for other in ("lab", "classic", "reveal"):
            response = page.goto(f"{render}?template={other}")
            assert response is not None and response.ok, (other, response and response.status)
            text = response.text()
            assert OUR_TEMPLATE in text, f"?template={other} rendered another template"
            assert CDN not in text, f"?template={other} links {CDN}"
            # and the app itself runs on that page
            page.wait_for_selector(".gsp-file-index .gsp-filelist .jupyter-button")
        origin = world.url.rstrip("/")
        foreign = [u for u in requests if not u.startswith((origin + "/", "data:", "blob:"))]
        assert not foreign, foreign
    finally:
        context.close()
