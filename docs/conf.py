"""Sphinx configuration of the book site that `make run` builds (see tools/notebooks.py `site`).

tools/notebooks.py stages the executed notebooks and the landing page (index.md) in a temporary
folder and runs Sphinx on it with this folder as the configuration directory. The site must work
offline: no CDN scripts, fonts or images, and search from file:// as well as from a local server.
"""

project = "keras-layer-recipes"
author = "keras-layer-recipes contributors"

extensions = ["myst_nb", "sphinx_copybutton"]

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
    "use_repository_button": False,
}
html_last_updated_fmt = None
# Search results without page summaries: fetching a page for its summary fails under file://.
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
