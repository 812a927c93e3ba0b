"""The book site in a real headless Chromium: titles, plots, sidebar, search, no errors, offline.

Every page is visited at a phone's width (400 px) and a desktop's (1400 px): no page wider than
the window, no code output cut, the contents panel not clipped, one "Show solution" per
exercise, alt text on every plot, the build line in every footer; the recipes page lists one
short answer per notebook, and the Kim (2014) page shows its table and plot (of the committed
benchmarks/results/kim_table.json, else of a sample table written here). The site is built from
the notebooks' committed outputs (`site --committed-outputs`): in `make test`, nbval checks those
outputs against a fresh execution.
Needs /usr/bin/chromium (Debian's `chromium` package); without it the test is skipped with a
message saying so, except under CI (CI=true), where a missing browser is a failure. Screenshots
go to build/screenshots/: each page whole at both widths (`400/<page>.jpg`, `1400/<page>.jpg`).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
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
PHONE, DESKTOP = 400, 1400
RECIPES = "recipes.html"
KIM = "kim_table.html"
PAGES = ["index.html", RECIPES] + [f"{p.stem}.html" for p in NOTEBOOKS] + [KIM]
KIM_TABLE = ROOT / "benchmarks" / "results" / "kim_table.json"  # the measured one, once committed
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


def exercises(path: Path) -> dict[str, int]:
    """Each `### Exercise` heading of a notebook and the solution cells under it."""
    found: dict[str, int] = {}
    current = None
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("#"):
            heading = cell.source.splitlines()[0]
            current = heading[4:].replace("`", "") if heading.startswith("### Exercise") else None
            if current:
                found[current] = 0
        elif current and "solution" in cell.metadata.get("tags", []):
            found[current] += 1
    return found


def short_answer_code(path: Path) -> str:
    """The first code cell after a notebook's `## Short answer` heading."""
    cells = nbformat.read(path, as_version=4).cells
    start = next(i for i, c in enumerate(cells) if c.source.startswith("## Short answer"))
    return next(c.source for c in cells[start:] if c.cell_type == "code")


def sample_kim_table(path: Path) -> Path:
    """A Kim table as benchmarks/kim_table.py --out writes it: Table 2's seven datasets."""
    meta = {
        "started": "2026-12-07T03:30:00Z",
        "finished": "2026-12-07T05:57:00Z",
        "total_seconds": 8820.0,
        "machine": "x86_64, 2 CPUs (AMD EPYC 7B13 64-Core Processor)",
        "keras": "3.15.1",
        "backend": "tensorflow",
        "preset": "kim-rand",
        "epochs": 25,
        "patience": 4,
        "folds": 10,
        "command": "benchmarks/kim_table.py /work/data/kim --out build/kim_table.json",
    }
    measured = [
        ("MR", 76.1, 0.756, 0.014, 3510.0),
        ("SST-1", 45.0, 0.385, None, 318.0),
        ("SST-2", 82.7, 0.837, None, 888.0),
        ("Subj", 89.6, 0.890, 0.010, 4890.0),
        ("TREC", 91.2, 0.894, None, 96.0),
        ("CR", 79.8, 0.782, 0.019, 1404.0),
        ("MPQA", 83.4, 0.857, 0.008, 3150.0),
    ]
    rows = [
        {
            "dataset": name,
            "kim_cnn_rand": kim,
            "note": "",
            "protocol": "10-fold cross-validation; dev = 10% of each training fold, for early "
            "stopping only"
            if std is not None
            else "train / dev / test split; dev = the dataset's dev split, for early stopping only",
            "accuracy_mean": mean,
            "accuracy_std": std,
            "seconds": seconds,
            "folds": [],
        }
        for name, kim, mean, std, seconds in measured
    ]
    path.write_text(json.dumps({"meta": meta, "rows": rows}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def kim_table(tmp_path_factory) -> Path:
    """The committed Kim table, else a sample: either way the page has its table and plot."""
    if KIM_TABLE.is_file():
        return KIM_TABLE
    return sample_kim_table(tmp_path_factory.mktemp("kim") / "kim_table.json")


@pytest.fixture(scope="module")
def site(tmp_path_factory, kim_table) -> Path:
    out = tmp_path_factory.mktemp("book") / "site"
    command = ["site", "notebooks", str(out), "--committed-outputs", "--kim-table", str(kim_table)]
    result = subprocess.run(
        [sys.executable, str(TOOL), *command],
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


# What the crawl records of every page, at each width (evaluated in the page).
MEASURE = """() => {
    const clipped = (e) => e.scrollWidth > e.clientWidth + 1;
    const toc = document.querySelector('.bd-sidebar-secondary');
    const shown = toc && toc.getBoundingClientRect().width > 0;
    return {
        width: document.documentElement.scrollWidth,
        cut: [...document.querySelectorAll('.cell_output pre, .highlight-text pre')]
            .filter(clipped).map(p => p.textContent.slice(0, 80)),
        toc: !shown ? null : {
            right: toc.getBoundingClientRect().right,
            clipped: [toc, ...toc.querySelectorAll('*')].filter(clipped)
                .map(e => e.textContent.trim().slice(0, 60)),
            scrolls: toc.scrollHeight <= toc.clientHeight + 1
                || ['auto', 'scroll'].includes(getComputedStyle(toc).overflowY),
        },
        exercises: Object.fromEntries([...document.querySelectorAll('article section')]
            .filter(s => /^Exercise /.test(s.querySelector(':scope > h3')?.textContent || ''))
            .map(s => [s.querySelector(':scope > h3').textContent.replace(/#$/, '').trim(),
                       [...s.querySelectorAll('details > summary .collapsed')]
                           .filter(e => e.getClientRects().length).length])),
        alts: [...document.querySelectorAll('.cell_output img')].map(i => i.alt),
        images: [...document.querySelectorAll('article img')].map(i => ({
            alt: i.alt, natural: i.naturalWidth, shown: i.getBoundingClientRect().width})),
        tables: [...document.querySelectorAll('article table')]
            .map(t => [t.rows.length, t.scrollWidth <= t.clientWidth + 1]),
        build: document.querySelector('.build-info')?.innerText || '',
        launch: [...document.querySelectorAll('a[href]')].map(a => a.href)
            .filter(h => /colab|binder/i.test(h)),
    };
}"""


@pytest.fixture(scope="module")
def crawl(base_url, tmp_path_factory):
    """Visit every page once at each width; record what the tests check; screenshot it whole."""
    browser = Browser(tmp_path_factory.mktemp("profile"))
    pages: dict[int, dict] = {PHONE: {}, DESKTOP: {}}
    try:
        for width in (DESKTOP, PHONE):
            (SHOTS / str(width)).mkdir(parents=True, exist_ok=True)
            for name in PAGES:
                page = browser.open(base_url + name, width)
                info = page.evaluate(MEASURE)
                page.screenshot(
                    path=str(SHOTS / str(width) / f"{name[:-5]}.jpg"), full_page=True, quality=70
                )
                pages[width][name] = info
                if width == DESKTOP:
                    info |= desktop_details(page, name)
                page.close()
        status = {}
        for info in pages[DESKTOP].values():
            for url in {u.split("#")[0] for u in info["sidebar"]}:
                status[url] = browser.context.request.get(url).status
        yield {"pages": pages[DESKTOP], "phone": pages[PHONE], "status": status, "browser": browser}
    finally:
        browser.close()


def desktop_details(page, name: str) -> dict:
    """Titles, plots, sidebar, solutions and the next link (at 1400 px), and the older shots."""
    info = {
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
        page.screenshot(path=str(SHOTS / "landing.png"), full_page=True)
    if name == SEARCH_PAGE:
        page.screenshot(path=str(SHOTS / "notebook.png"))
        page.locator(".cell_output img").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "notebook_plot.png"))
        if page.locator("details.hide").count():
            page.locator("details.hide").first.scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / "notebook_solution.png"))
    return info


def test_every_page_has_its_notebooks_title(crawl):
    pages = crawl["pages"]
    assert pages["index.html"]["title"].startswith("keras-layer-recipes")
    assert pages[RECIPES]["h1"] == "Recipes: every notebook's short answer"
    assert pages[KIM]["h1"] == "Kim (2014), Table 2: measured"
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
        missing = set(PAGES[1:]) - linked
        assert not missing, f"{name}: sidebar lacks {missing}"
    assert crawl["status"] and set(crawl["status"].values()) == {200}, crawl["status"]


def test_next_links_follow_the_notebook_order(crawl, base_url):
    for here, there in zip(PAGES, PAGES[1:], strict=False):
        assert crawl["pages"][here]["next"] == [base_url + there], here


def search(browser: Browser, url: str) -> list[tuple[str, str]]:
    """The hits of a search page: (link, its text snippet), once every hit has its snippet."""
    page = browser.open(url)
    page.wait_for_selector("#search-results .search-summary", timeout=20_000)
    page.wait_for_function(
        "() => /found|did not match/i.test("
        "document.querySelector('#search-results .search-summary').textContent)"
    )
    page.wait_for_function(  # snippets come from _static/page_texts.js (toggles.js)
        "() => [...document.querySelectorAll('#search-results ul.search li')]"
        ".every(li => li.dataset.snippet !== undefined)"
    )
    hits = page.eval_on_selector_all(
        "#search-results ul.search li",
        "items => items.map(li => [li.querySelector('a').href,"
        " li.querySelector('p.context')?.textContent || ''])",
    )
    page.close()
    return hits


def test_search_finds_notebook_05_and_the_recipes_with_snippets_over_http_and_file(
    crawl, base_url, site
):
    browser = crawl["browser"]
    for base in [base_url, site.resolve().as_uri() + "/"]:
        hits = search(browser, f"{base}search.html?q={SEARCH_WORD}")
        pages = [urlsplit(link).path.rsplit("/", 1)[-1] for link, _ in hits]
        assert SEARCH_PAGE in pages and RECIPES in pages, (base, pages)
        assert all(SEARCH_WORD in snippet.lower() for _, snippet in hits), (base, hits)


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


def test_no_page_is_wider_than_a_phone_and_no_output_is_cut(crawl):
    for width, pages in [(PHONE, crawl["phone"]), (DESKTOP, crawl["pages"])]:
        for name, info in pages.items():
            assert info["width"] <= width, f"{name} at {width} px is {info['width']} px wide"
            assert info["cut"] == [], f"{name} at {width} px: outputs cut {info['cut']}"


def test_the_contents_panel_is_never_clipped(crawl):
    """At 1400 px (on a phone it is a drawer, off screen until it is opened)."""
    shown = 0
    for name, info in crawl["pages"].items():
        toc = info["toc"]
        if toc is not None:
            shown += 1
            assert toc["right"] <= DESKTOP and toc["clipped"] == [], (name, toc)
            assert toc["scrolls"], f"{name}: the contents panel is taller than the window"
    assert shown >= len(NOTEBOOKS), "the contents panel was not on the notebook pages"


def test_one_show_solution_per_exercise(crawl):
    for path in NOTEBOOKS:
        want = exercises(path)
        assert want and set(want.values()) == {1}, f"{path.name}: solutions {want}"
        for pages in (crawl["phone"], crawl["pages"]):
            assert pages[f"{path.stem}.html"]["exercises"] == want, path.name


def test_every_plot_has_alt_text_from_its_titles(crawl):
    for pages in (crawl["phone"], crawl["pages"]):
        alts = [a for name in PAGES for a in pages[name]["alts"]]
        assert len(alts) == sum(expected(p)[1] for p in NOTEBOOKS) > 0
        assert all(a.startswith("Figure in ") and ".png" not in a for a in alts), alts
    assert any("transpose keeps each weight with its unit" in a for a in alts), alts


def test_every_page_says_its_build_and_has_no_launch_button_offline(crawl):
    for pages in (crawl["phone"], crawl["pages"]):
        for name, info in pages.items():
            assert re.search(
                r"Repository: .+ Keras 3\.\d+\.\d+, TensorFlow 2\.\d+\.\d+\. "
                r"Built 20\d\d-\d\d-\d\d \d\d:\d\d UTC from commit \w+",
                info["build"],
            ), (name, info["build"])
            assert info["launch"] == [], name


def test_the_recipes_page_lists_one_short_answer_per_notebook(crawl, base_url):
    page = crawl["browser"].open(base_url + RECIPES)
    entries = page.eval_on_selector_all(
        "article section section",
        """sections => sections.map(s => ({
            heading: s.querySelector('h2').textContent.replace(/#$/, '').trim(),
            code: s.querySelector('div.highlight-python pre')?.textContent || '',
            copy: s.querySelectorAll('div.highlight-python button.copybtn').length,
            link: s.querySelector('a[href*="#short-answer"]')?.href || '',
        }))""",
    )
    assert len(entries) == len(NOTEBOOKS), [e["heading"] for e in entries]
    for n, (path, entry) in enumerate(zip(NOTEBOOKS, entries, strict=True), 1):
        assert entry["heading"] == f"{n}. {expected(path)[0]}"
        assert entry["code"].strip() == short_answer_code(path).strip(), path.name
        assert entry["copy"] >= 1, f"{path.name}: no copy button"
        assert entry["link"] == f"{base_url}{path.stem}.html#short-answer", entry["link"]
    page.close()
    target = crawl["browser"].open(entries[0]["link"])
    assert target.evaluate("document.getElementById('short-answer') !== null")
    target.close()


def test_a_figure_opens_full_size_on_click(crawl, base_url):
    page = crawl["browser"].open(base_url + f"{NOTEBOOKS[0].stem}.html", DESKTOP)
    figure = page.locator(".cell_output img").first
    figure.scroll_into_view_if_needed()
    shown, natural = figure.evaluate("i => [i.clientWidth, i.naturalWidth]")
    figure.click()
    big = page.locator("#lightbox img.lb-image")
    big.wait_for(state="visible", timeout=10_000)
    page.wait_for_function(
        f"() => document.querySelector('#lightbox img.lb-image').clientWidth >= {natural} - 1",
        timeout=10_000,
    )
    assert shown < natural, (shown, natural)  # shrunk on the page, full size in the lightbox
    page.close()


def test_the_sidebar_opens_on_a_small_screen(crawl, base_url):
    page = crawl["browser"].open(base_url + f"{NOTEBOOKS[0].stem}.html", width=420)
    assert not page.locator("nav.bd-docs-nav").is_visible()
    page.locator("button.primary-toggle:visible").click()
    page.wait_for_function("document.getElementById('pst-primary-sidebar-modal').open")
    page.locator("nav.bd-docs-nav").wait_for(state="visible", timeout=5_000)
    page.close()


def test_the_kim_page_shows_its_table_and_plot_whole_on_a_phone(crawl, kim_table, base_url):
    rows = len(json.loads(kim_table.read_text(encoding="utf-8"))["rows"])
    for width, pages in [(PHONE, crawl["phone"]), (DESKTOP, crawl["pages"])]:
        info = pages[KIM]
        # The whole table in view, no sideways scrolling even on a phone: a header and a row each.
        assert info["tables"] == [[rows + 1, True]], (width, info["tables"])
        (plot,) = info["images"]
        assert plot["alt"].startswith("Dot plot of test accuracy in percent per dataset"), plot
        assert plot["natural"] > 0 and 0 < plot["shown"] <= min(plot["natural"], width), plot
    landing = crawl["browser"].open(base_url + "index.html")
    assert landing.locator(f'article a[href="{KIM}"]').count() == 1
    landing.close()
