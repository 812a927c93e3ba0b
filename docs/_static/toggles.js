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
