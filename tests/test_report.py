"""The HTML report: valid, self-contained, escaped, with the right sections for each kind of run."""

from __future__ import annotations

import base64
import os
import re
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import backprop as bp
from backprop.errors import ShapeError
from backprop.report import render_report, write_report

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
HOSTILE = "<script>alert('x')</script>"


class Page(HTMLParser):
    """Parses the report and checks that every element is closed in order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.doctype = False
        self.feed(text)
        self.close()
        assert self.stack == [], f"unclosed: {self.stack}"

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "a":
            self.links.append(values.get("href") or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def check_self_contained(html: str) -> Page:
    page = Page(html)
    assert page.doctype
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    without_data = re.sub(r"data:[^'\"]*", "", html)
    assert "http" not in without_data.lower()
    assert "@import" not in html and "url(" not in html
    for link in page.links:
        assert link.startswith("#") and link[1:] in page.ids, link
    for src in page.images:
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert b"<svg" in svg and b"</svg>" in svg
        assert b"<!DOCTYPE" not in svg and b"<script" not in svg
    return page


# ----------------------------------------------------------------------------- fixtures


def history(epochs: int = 4, validation: bool = True, task: str = "classification") -> dict[str, list[float]]:
    metric = "accuracy" if task == "classification" else "r2"
    h = {"loss": [1.0, 0.6, 0.4, 0.3][:epochs], metric: [0.5, 0.7, 0.8, 0.85][:epochs]}
    if validation:
        h.update({"val_loss": [1.1, 0.7, 0.5, 0.55][:epochs], f"val_{metric}": [0.5, 0.6, 0.7, 0.7][:epochs]})
    h.update({"lr": [0.01] * epochs, "seconds": [0.25] * epochs})
    h.update({"grad_norm_1": [0.1, 0.05, 0.02, 0.01][:epochs], "grad_norm_2": [0.3, 0.2, 0.1, 0.1][:epochs]})
    return h


def classifier(inputs: int = 2, classes: int = 3) -> bp.Network:
    return bp.Network([bp.Dense(4, "tanh"), bp.Dense(classes, "softmax")], inputs=inputs, seed=0)


def classification_report(**overrides):
    net = classifier()
    labels = ["cat", "dog", HOSTILE]
    matrix = np.array([[5, 1, 0], [0, 4, 2], [1, 0, 7]])
    kwargs = {
        "net": net,
        "history": history(),
        "metrics": {"loss": 0.42, "accuracy": 0.8},
        "data_summary": {"rows": 20, "task": "classification", "columns": ["x", HOSTILE], HOSTILE: "value"},
        "hyperparameters": {"hidden": [4], "optimizer": "Adam", "note": HOSTILE},
        "confusion": (matrix, labels),
        "per_class": [
            {"class": label, "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": int(matrix[i].sum())}
            for i, label in enumerate(labels)
        ],
        "points": (np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 3),
        "transform": lambda points: points * 0.5,
        "trace": bp.explain(net, [0.1, 0.2], [2], learning_rate=0.5, loss="crossentropy"),
        "title": f"report {HOSTILE}",
    }
    kwargs.update(overrides)
    return kwargs


# ----------------------------------------------------------------------------- classification


def test_classification_report_is_self_contained_with_every_section():
    html = render_report(**classification_report())
    page = check_self_contained(html)
    assert {"data", "architecture", "hyperparameters", "training", "metrics", "boundary", "explain"} <= page.ids
    text = page.all_text
    assert "Classification of 3 classes · test accuracy 80.00%" in text
    assert "Confusion matrix" in text and "Per class" in text and "Decision boundary" in text
    # network diagram, loss, accuracy, gradient norms, confusion matrix, decision boundary
    assert len(page.images) == 6
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in html
    assert "max-width" in html and "overflow-x: auto" in html


def test_every_user_string_is_escaped():
    html = render_report(**classification_report())
    page = Page(html)
    assert "script" not in page.tags
    assert HOSTILE not in html
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    # title (twice), summary key, columns, hyperparameter, per-class row, counts table row
    assert html.count(escaped) >= 7
    assert page.all_text.count(HOSTILE) >= 7  # and reads back as the text it was


def test_trace_uses_to_html_when_the_trace_has_it():
    class HtmlTrace:
        learning_rate = 0.5

        def to_html(self) -> str:
            return "<div class='from-trace'>trace as html</div>"

        def __str__(self) -> str:  # pragma: no cover - must not be used
            raise AssertionError("str() used although to_html exists")

    html = render_report(**classification_report(trace=HtmlTrace()))
    assert "<div class='from-trace'>trace as html</div>" in html
    assert "η = 0.5" in html


def test_trace_without_to_html_is_escaped_preformatted_text():
    class TextTrace:
        def __str__(self) -> str:
            return f"layer 1 | {HOSTILE} | δ"

    html = render_report(**classification_report(trace=TextTrace()))
    page = check_self_contained(html)
    assert "pre" in page.tags
    assert f"layer 1 | {HOSTILE} | δ" in page.all_text


def test_long_trace_is_folded():
    class LongTrace:
        def __str__(self) -> str:
            return "\n".join(f"row {i}" for i in range(500))

    page = Page(render_report(**classification_report(trace=LongTrace())))
    assert "details" in page.tags and "row 499" in page.all_text


def test_without_validation_trace_points_confusion_or_per_class():
    html = render_report(
        **classification_report(
            history=history(validation=False), trace=None, points=None, confusion=None, per_class=None
        )
    )
    page = check_self_contained(html)
    assert "No validation data" in page.all_text
    assert "boundary" not in page.ids and "explain" not in page.ids
    assert "Confusion matrix" not in page.all_text and "Per class" not in page.all_text
    assert len(page.images) == 4  # diagram, loss, accuracy, gradient norms


def test_points_that_are_not_2d_get_a_note():
    net = classifier(inputs=3)
    points = (np.zeros((5, 3)), np.zeros(5, dtype=int))
    page = Page(render_report(**classification_report(net=net, points=points, trace=None)))
    assert "Drawn only for 2-D data" in page.all_text


def test_empty_history_and_empty_mappings():
    html = render_report(net=classifier(), history={}, metrics={}, data_summary={}, hyperparameters={})
    page = check_self_contained(html)
    assert "No training history was recorded." in page.all_text
    assert "No metrics were given." in page.all_text
    assert len(page.images) == 1  # the diagram only


def test_history_object_from_a_real_fit():
    data = bp.datasets.load("moons", seed=0, standardize=True)
    net = classifier(classes=2)
    fitted = net.fit(data.X_train, data.y_train, loss="crossentropy", epochs=2, batch_size=64, seed=0)
    page = check_self_contained(render_report(**classification_report(net=net, history=fitted, confusion=None)))
    assert "2 epochs" in page.all_text


def test_per_class_numbers_are_formatted_and_numeric_labels_stay_labels():
    rows = [{"class": 7.0, "precision": 0.91234, "recall": 1, "f1": 0.5, "support": 36.0}]
    html = render_report(**classification_report(per_class=rows, confusion=None))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html.split("Per class", 1)[1].split("</table>", 1)[0])
    assert cells == ["7", "0.912", "1", "0.500", "36"]


def test_bad_confusion_is_an_error():
    with pytest.raises(ShapeError, match="confusion"):
        render_report(**classification_report(confusion=(np.eye(3), ["a", "b"])))


# ----------------------------------------------------------------------------- regression and odd shapes


def test_regression_report():
    net = bp.Network([bp.Dense(8, "relu"), bp.Dense(1, "identity")], inputs=2, seed=0)
    X = np.random.default_rng(1).normal(size=(30, 2))
    html = render_report(
        net=net,
        history=history(task="regression"),
        metrics={"loss": 1.5, "r2": 0.61, "mae": 0.9, "rmse": 1.2},
        data_summary={"rows": 30},
        hyperparameters={},
        points=(X, X.sum(axis=1)),
        trace=bp.explain(net, X[0], [1.0], loss="mse"),
    )
    page = check_self_contained(html)
    text = page.all_text
    assert "Regression · test R² 0.61" in text
    assert "Confusion matrix" not in text and "Per class" not in text
    assert "Prediction over the input plane" in text
    assert len(page.images) == 5  # diagram, loss, R², gradient norms, prediction surface


@pytest.mark.parametrize(
    ("layers", "inputs", "expect"),
    [
        ([bp.Dense(1, "sigmoid")], 4, "4 → 1: 1 dense layer, 5 parameters"),
        ([bp.Dense(6, "tanh") for _ in range(19)] + [bp.Dense(2, "softmax")], 3, "3 → 6 ×19 → 2"),
        ([bp.Dense(10_000, "relu"), bp.Dense(3, "softmax")], 2, "+9,984 more"),
        ([bp.Dense(4, "relu"), bp.Dropout(0.5), bp.Dense(2, "softmax")], 3, "dropout, rate 0.5"),
    ],
    ids=["one-layer", "twenty-layers", "ten-thousand-units", "dropout"],
)
def test_architectures(layers, inputs, expect):
    net = bp.Network(layers, inputs=inputs, seed=0)
    html = render_report(net=net, history={"loss": [1.0]}, metrics={}, data_summary={}, hyperparameters={})
    page = check_self_contained(html)
    rows = len(layers) + 1  # the input row and one per layer
    assert html.count("<tr>") >= rows
    if expect.startswith("+"):
        # the diagram's summary marker is drawn as glyph paths; the caption says it in words
        assert "show their strongest units" in page.all_text
    else:
        assert expect in page.all_text


# ----------------------------------------------------------------------------- writing, optional matplotlib


def test_write_report_is_atomic(tmp_path):
    target = tmp_path / "report.html"
    write_report(target, **classification_report())
    text = target.read_text(encoding="utf-8")
    check_self_contained(text)
    with pytest.raises(ShapeError):
        write_report(target, **classification_report(confusion=(np.eye(2), ["a", "b", "c"])))
    assert target.read_text(encoding="utf-8") == text
    assert os.listdir(tmp_path) == ["report.html"]


def test_report_without_matplotlib_keeps_the_tables(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    html = render_report(**classification_report())
    page = check_self_contained(html)
    assert page.images == []
    assert "pip install 'backprop[plot]'" in page.all_text
    assert "Per class" in page.all_text and "The counts as a table" in page.all_text


def test_the_reports_diagram_names_the_columns_one_hot_values_and_classes(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from click.testing import CliRunner

    from backprop import plotting
    from backprop.cli import main

    seen = {}
    draw = plotting.plot_network

    def recording(net, inputs=None, outputs=None):
        seen.update(inputs=inputs, outputs=outputs)
        return draw(net, inputs, outputs)

    monkeypatch.setattr(plotting, "plot_network", recording)
    rows = ["size,colour,kind"] + [
        f"{i % 7},{['red', 'blue'][i % 2]},{['cat', 'dog', 'owl'][i % 3]}" for i in range(60)
    ]
    (tmp_path / "pets.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "report.html"
    args = [
        "train",
        str(tmp_path / "pets.csv"),
        "--epochs",
        "1",
        "--hidden",
        "4",
        "-o",
        str(tmp_path / "m.safetensors"),
    ]
    result = CliRunner().invoke(main, [*args, "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert seen == {"inputs": ["size", "colour=blue", "colour=red"], "outputs": ["cat", "dog", "owl"]}
    page = out.read_text()
    assert "Why these predictions" in page and page.count("<h3>Row ") == 3  # three test rows explained
    seen.clear()  # backprop plot --kind network names them too
    picture = tmp_path / "network.png"
    args = ["plot", str(tmp_path / "m.safetensors"), "--kind", "network", "-o", str(picture)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert seen == {"inputs": ["size", "colour=blue", "colour=red"], "outputs": ["cat", "dog", "owl"]}
    assert picture.exists()
    with pytest.raises(bp.ParameterError, match="input_names must name each of the network's 2 inputs"):
        render_report(**classification_report(input_names=["only one"]))


def test_why_these_predictions_is_escaped_and_keeps_the_strongest_columns():
    explained = {
        "row": 4,
        "prediction": HOSTILE,
        "explained": f"p({HOSTILE})",
        "value": 0.75,
        "baseline_value": 0.5,
        "contributions": [
            {"column": f"{HOSTILE}{i}", "value": 6.900000095367432, "integrated_gradients": 0.1 / (i + 1),
             "gradient_x_input": 0.09 / (i + 1)}
            for i in range(8)
        ],
    }  # fmt: skip
    html = render_report(**classification_report(explanations=[explained]))
    page = check_self_contained(html)
    assert "why" in page.ids and HOSTILE not in html
    assert "Row 4: predicted" in page.all_text and "p(" in page.all_text
    assert page.all_text.count("6.9 ") + page.all_text.count("6.9\n") >= 1 or "6.9<" in html  # not 6.900000095…
    assert "6.900000095" not in html
    assert html.count("+0.1<") == 1 and "+0.0125<" not in html  # six strongest of eight: 0.1/1 … 0.1/6
