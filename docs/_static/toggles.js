// pydata-sphinx-theme and sphinx-book-theme wire only the first `.primary-toggle` and
// `.secondary-toggle` of a page (in the top bar), but the visible ones are in the article header:
// forward their clicks, so the sidebar and the contents drawer open on small screens too.
document.addEventListener("DOMContentLoaded", () => {
  for (const selector of [".primary-toggle", ".secondary-toggle"]) {
    const [wired, ...others] = document.querySelectorAll(selector);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        wired.click();
      });
    }
  }
});

// Search results: a text snippet under each hit, from _static/page_texts.js (docs/conf.py writes
// it). Sphinx's own snippets fetch each page, which the browser refuses under file://.
document.addEventListener("DOMContentLoaded", () => {
  const results = document.getElementById("search-results");
  if (!results) return;
  const terms = (new URLSearchParams(location.search).get("q") || "")
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean);
  const addSnippets = () => {
    for (const item of results.querySelectorAll("ul.search li:not([data-snippet])")) {
      item.dataset.snippet = "";
      const link = item.querySelector("a");
      const page = (link?.getAttribute("href") || "").split("#")[0].replace(/\.html$/, "");
      const text = window.PAGE_TEXTS?.[decodeURIComponent(page)];
      if (!text) continue;
      const lower = text.toLowerCase();
      const at = Math.max(0, ...terms.map((t) => lower.indexOf(t)).filter((i) => i >= 0).slice(0, 1));
      const from = Math.max(0, at - 100);
      const start = from && text.indexOf(" ", from) + 1; // at a word's start
      const snippet = document.createElement("p");
      snippet.className = "context";
      snippet.textContent =
        (start > 0 ? "… " : "") + text.slice(start, start + 240).trim() +
        (start + 240 < text.length ? " …" : "");
      item.appendChild(snippet);
    }
  };
  const script = document.createElement("script");
  script.src = document.documentElement.dataset.content_root + "_static/page_texts.js";
  script.onload = () => {
    addSnippets();
    new MutationObserver(addSnippets).observe(results, { childList: true, subtree: true });
  };
  document.head.appendChild(script);
});
