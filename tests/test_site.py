"""The book site in a real headless Chromium: titles, plots, sidebar, search, no errors, offline.

The site is built from the notebooks' committed outputs (`site --committed-outputs`): in
`make test`, nbval checks those outputs against a fresh execution. Needs /usr/bin/chromium
(Debian's `chromium` package); without it the test is skipped with a message saying so, except
under CI (CI=true), where a missing browser is a failure. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "notebooks.py"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "build" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SEARCH_WORD, SEARCH_PAGE = "extractor", "05_textcnn_activations.html"
pytestmark = pytest.mark.backend_independent

if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
    message = f"browser test skipped: no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test, but there is no Chromium at {CHROMIUM}")
    pytest.skip(message, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402 (only where a browser exists)


def expected(path: Path) -> tuple[str, int, int]:
    """A notebook's title (first `# ` heading, markup removed), its PNG plots and solution cells."""
    nb = nbformat.read(path, as_version=4)
    title = next(
        line[2:].strip().replace("`", "")
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("# ")
    )
    plots = sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    solutions = sum("solution" in cell.metadata.get("tags", []) for cell in nb.cells)
    return title, plots, solutions


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book") / "site"
    result = subprocess.run(
        [sys.executable, str(TOOL), "site", "notebooks", str(out), "--committed-outputs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports bad responses itself
        pass


@pytest.fixture(scope="module")
def base_url(site):
    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class Browser:
    """One Chromium with a fresh profile that records every request, error and bad response."""

    def __init__(self, profile: Path):
        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.context.on(
            "response", lambda r: r.status >= 400 and self.errors.append(f"{r.status}: {r.url}")
        )

    def open(self, url: str, width: int = 1280):
        page = self.context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{url}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{url}: {e}"))
        page.goto(url, wait_until="load")
        return page

    def close(self) -> None:
        self.context.close()
        self._pw.stop()


@pytest.fixture(scope="module")
def crawl(base_url, tmp_path_factory):
    """Visit the landing page and every notebook page once; record what the tests check."""
    browser = Browser(tmp_path_factory.mktemp("profile"))
    pages = {}
    try:
        for name in ["index.html"] + [f"{p.stem}.html" for p in NOTEBOOKS]:
            page = browser.open(base_url + name)
            pages[name] = {
                "title": page.title(),
                "h1": page.locator("article h1").first.inner_text().rstrip("#").strip(),
                "plots": page.evaluate(
                    """() => Promise.all([...document.querySelectorAll('.cell_output img')]
                        .map(i => i.decode().then(() => i.naturalWidth, () => 0)))"""
                ),
                "sidebar": page.eval_on_selector_all(
                    "nav.bd-docs-nav a[href]", "links => links.map(a => a.href)"
                ),
                "solutions": page.eval_on_selector_all(
                    ".cell.tag_solution",
                    """cells => cells.map(c => {
                        const d = c.querySelector(':scope > details');
                        return d ? [d.open, d.querySelector('summary').innerText.trim()] : null;
                    })""",
                ),
                "next": page.eval_on_selector_all("a.right-next", "a => a.map(x => x.href)"),
            }
            if name == "index.html":
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "landing.png"), full_page=True)
            if name == SEARCH_PAGE:
                page.screenshot(path=str(SHOTS / "notebook.png"))
                page.locator(".cell_output img").first.scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / "notebook_plot.png"))
                if page.locator("details.hide").count():
                    page.locator("details.hide").first.scroll_into_view_if_needed()
                    page.screenshot(path=str(SHOTS / "notebook_solution.png"))
            page.close()
        status = {}
        for url in {u.split("#")[0] for info in pages.values() for u in info["sidebar"]}:
            status[url] = browser.context.request.get(url).status
        yield {"pages": pages, "status": status, "browser": browser}
    finally:
        browser.close()


def test_every_page_has_its_notebooks_title(crawl):
    pages = crawl["pages"]
    assert pages["index.html"]["title"].startswith("keras-layer-recipes")
    for path in NOTEBOOKS:
        title, _, _ = expected(path)
        info = pages[f"{path.stem}.html"]
        assert info["h1"] == title
        assert info["title"].startswith(title), info["title"]


def test_plots_are_images_that_loaded(crawl):
    for path in NOTEBOOKS:
        _, plots, _ = expected(path)
        widths = crawl["pages"][f"{path.stem}.html"]["plots"]
        assert len(widths) == plots, f"{path.name}: {plots} plots in the notebook, page {widths}"
        assert all(w > 0 for w in widths), f"{path.name}: an image did not load: {widths}"
    assert sum(expected(p)[1] for p in NOTEBOOKS) > 0, "no notebook has a plot to check"


def test_solutions_start_collapsed(crawl):
    for path in NOTEBOOKS:
        _, _, solutions = expected(path)
        shown = crawl["pages"][f"{path.stem}.html"]["solutions"]
        assert shown == [[False, "Show solution"]] * solutions, path.name


def test_sidebar_lists_every_notebook_and_its_links_resolve(crawl, base_url):
    for name, info in crawl["pages"].items():
        linked = {urlsplit(u).path.lstrip("/") for u in info["sidebar"]}
        missing = {f"{p.stem}.html" for p in NOTEBOOKS} - linked
        assert not missing, f"{name}: sidebar lacks {missing}"
    assert crawl["status"] and set(crawl["status"].values()) == {200}, crawl["status"]


def test_next_links_follow_the_notebook_order(crawl, base_url):
    order = ["index.html"] + [f"{p.stem}.html" for p in NOTEBOOKS]
    for here, there in zip(order, order[1:], strict=False):
        assert crawl["pages"][here]["next"] == [base_url + there], here


def search(browser: Browser, url: str) -> list[str]:
    page = browser.open(url)
    page.wait_for_selector("#search-results .search-summary", timeout=20_000)
    page.wait_for_function(
        "() => /found|did not match/i.test("
        "document.querySelector('#search-results .search-summary').textContent)"
    )
    hits = page.eval_on_selector_all("#search-results ul.search li a", "a => a.map(x => x.href)")
    page.close()
    return hits


def test_search_finds_notebook_05_over_http_and_from_file(crawl, base_url, site):
    browser = crawl["browser"]
    for base in [base_url, site.resolve().as_uri() + "/"]:
        hits = search(browser, f"{base}search.html?q={SEARCH_WORD}")
        assert any(urlsplit(h).path.endswith(SEARCH_PAGE) for h in hits), (base, hits)


def test_no_javascript_error_and_no_request_outside_the_site(crawl, base_url, site):
    browser = crawl["browser"]
    search(browser, f"{site.resolve().as_uri()}/search.html?q={SEARCH_WORD}")
    assert browser.errors == []
    folder = site.resolve().as_posix() + "/"
    outside = [
        url
        for url in browser.requests
        if not url.startswith(base_url)
        and not (url.startswith("file://") and unquote(urlsplit(url).path).startswith(folder))
        and not url.startswith(("data:", "blob:"))
    ]
    assert len(browser.requests) > 20
    assert outside == []


def test_the_sidebar_opens_on_a_small_screen(crawl, base_url):
    page = crawl["browser"].open(base_url + f"{NOTEBOOKS[0].stem}.html", width=420)
    assert not page.locator("nav.bd-docs-nav").is_visible()
    page.locator("button.primary-toggle:visible").click()
    page.wait_for_function("document.getElementById('pst-primary-sidebar-modal').open")
    page.locator("nav.bd-docs-nav").wait_for(state="visible", timeout=5_000)
    page.close()
