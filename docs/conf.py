"""Sphinx configuration of the book site that `make run` builds (see tools/notebooks.py `site`).

tools/notebooks.py stages the executed notebooks and the landing page (index.md) in a temporary
folder and runs Sphinx on it with this folder as the configuration directory. The site must work
offline: no CDN scripts, fonts or images, and search from file:// as well as from a local server.
With a repository URL (tools/notebooks.py `--repository-url`, passed here as $SITE_REPOSITORY_URL)
the pages link the repository and notebook pages get Colab and Binder launch buttons; without
one there is no outside link.
"""

import datetime
import html
import importlib.metadata
import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY_URL = os.environ.get("SITE_REPOSITORY_URL", "")

project = "keras-layer-recipes"
author = "keras-layer-recipes contributors"

# sphinxcontrib.lightbox2: every image is a link to its file, opened full size in an overlay on
# click (its scripts and icons are copied into _static: no outside request).
extensions = ["myst_nb", "sphinx_copybutton", "sphinxcontrib.lightbox2"]
lightbox2_wrap_around = False

# The notebooks arrive already executed (fresh, by tools/notebooks.py); Sphinx only renders them.
nb_execution_mode = "off"
# A cell tagged `solution` is staged with myst-nb's `hide-input` tag: its code starts collapsed.
nb_code_prompt_show = "Show solution"
nb_code_prompt_hide = "Hide solution"
# No require.js / widget scripts from a CDN: the notebooks have no widgets.
nb_ipywidgets_js = {}
# MathJax would come from a CDN; the notebooks have no LaTeX, so it is never loaded.
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = "keras-layer-recipes"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_source_button": False,
    "use_repository_button": bool(REPOSITORY_URL),
    "use_issues_button": bool(REPOSITORY_URL),
}
if REPOSITORY_URL:  # launch buttons only with a repository to launch from: no outside link else
    html_theme_options |= {
        "repository_url": REPOSITORY_URL,
        "repository_branch": os.environ.get("SITE_REPOSITORY_BRANCH", "main"),
        "path_to_docs": "notebooks",
        "launch_buttons": {
            "colab_url": "https://colab.research.google.com",
            "binderhub_url": "https://mybinder.org",
            "notebook_interface": "jupyterlab",
        },
    }
html_last_updated_fmt = None
# Search results get their text snippets from _static/page_texts.js (setup() below, read by
# toggles.js): Sphinx's own summaries fetch each page, which fails under file://.
html_show_search_summary = False
# A favicon of our own: without one the browser asks the server for /favicon.ico (a 404).
html_favicon = "_static/favicon.svg"
# pydata-sphinx-theme logs a console error on a first visit unless a colour mode is set.
html_context = {"default_mode": "light"}
# Text as written: straight quotes, so copied prose and titles match the notebooks.
smartquotes = False
html_show_copyright = False
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_js_files = ["toggles.js"]


def _version(*names: str) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def _commit() -> str:
    """The short commit of the repository the site is built from ("+ changes" when it has some)."""
    git = ["git", "-C", str(ROOT)]
    quiet = {"capture_output": True, "text": True}
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], **quiet)
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], **quiet)
    except OSError:
        return "unknown (no git)"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


_built = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
_repository = (
    f'<a href="{html.escape(REPOSITORY_URL)}">{html.escape(REPOSITORY_URL)}</a>'
    if REPOSITORY_URL
    else "a local clone (none configured: <code>make site REPOSITORY_URL=...</code>)"
)
# On every page: where the notebooks live, what they ran on, when and from which commit.
html_theme_options["extra_footer"] = (
    f'<p class="build-info">Repository: {_repository}. '
    f"Keras {_version('keras')}, TensorFlow {_version('tensorflow', 'tensorflow-cpu')}. "
    f"Built {_built} from commit <code>{html.escape(_commit())}</code>.</p>"
)


_page_texts: dict[str, str] = {}


def _collect_text(app, pagename, templatename, context, doctree) -> None:
    """Keep each page's text (title and body) for the search snippets."""
    if doctree is not None:
        _page_texts[pagename] = re.sub(r"\s+", " ", doctree.astext()).strip()


def _write_texts(app, exception) -> None:
    """_static/page_texts.js: every page's text, loaded by the search page only (toggles.js)."""
    if exception is None and app.builder.format == "html":
        texts = json.dumps(_page_texts, ensure_ascii=False)
        out = Path(app.outdir, "_static", "page_texts.js")
        out.write_text(f"window.PAGE_TEXTS = {texts};\n", encoding="utf-8")


def setup(app) -> None:
    app.connect("html-page-context", _collect_text)
    app.connect("build-finished", _write_texts)
