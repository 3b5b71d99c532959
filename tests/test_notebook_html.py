"""Notebook display: Network, History and the explain Trace as self-contained HTML (``_repr_html_``)."""

from __future__ import annotations

import math
import re
import tracemalloc
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

import backprop as bp
from backprop._html import MAX_EDGES_DRAWN, MAX_UNITS_DRAWN, NEGATIVE, POSITIVE, history_html, network_html
from backprop.callbacks import History
from backprop.errors import BackpropTypeError, ParameterError
from backprop.explain import seed_example

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script>"


class Fragment(HTMLParser):
    """Parses a fragment, checks that every element closes in order, and collects the table cells."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()
        assert self.stack == [], f"unclosed: {self.stack}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.stack.append(tag)
        if tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def svgs(fragment: str) -> list[ET.Element]:
    """Every ``<svg>`` of the fragment, parsed as XML (which fails on anything unescaped)."""
    return [ET.fromstring(match) for match in re.findall(r"<svg\b.*?</svg>", fragment, flags=re.DOTALL)]


def checked(fragment: str) -> Fragment:
    """The fragment parsed; self-contained: no script, no reference to anything outside it."""
    assert "<script" not in fragment.lower()
    assert not re.search(r"\b(src|href|id)=", fragment)  # ids would clash between outputs of a notebook
    assert "url(" not in fragment and "@import" not in fragment
    return Fragment(fragment)


def net_231() -> bp.Network:
    """A 2-3-1 network with hand-chosen weights: the largest |w| of each layer is 1."""
    return bp.Network.from_weights(
        [np.array([[1.0, -0.5, 0.0], [0.25, -1.0, 0.5]]), np.array([[0.5], [-1.0], [0.0]])],
        activations=["tanh", "sigmoid"],
        biases=[np.array([2.0, -2.0, 0.0]), np.array([0.0])],
    )


def edges(svg: ET.Element) -> dict[str, dict[str, str]]:
    """Edge title → its attributes."""
    return {line.find(f"{SVG}title").text or "": line.attrib for line in svg.iter(f"{SVG}line")}  # type: ignore[union-attr]


# --------------------------------------------------------------------------- Network


def test_a_2_3_1_network_draws_6_nodes_and_9_edges_and_counts_9_and_4_parameters() -> None:
    page = net_231()._repr_html_()
    parsed = checked(page)
    (svg,) = svgs(page)
    assert len(list(svg.iter(f"{SVG}circle"))) == 2 + 3 + 1
    assert len(list(svg.iter(f"{SVG}line"))) == 2 * 3 + 3 * 1
    columns = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "bp-nodes"]
    assert [len(g) for g in columns] == [2, 3, 1]
    # layer, kind, units, activation, parameters: 2·3 + 3 = 9 and 3·1 + 1 = 4, 13 in all.
    assert parsed.cells[5:] == [
        *["input", "", "2", "—", "0"],
        *["1", "dense", "3", "tanh", "9"],
        *["2", "output", "1", "sigmoid", "4"],
        *["", "total", "", "", "13"],
    ]
    assert "Network 2 → 3 → 1: 2 dense layers, 13 parameters, float64" in page


def test_edges_are_coloured_by_sign_and_sized_by_weight_within_their_layer() -> None:
    (svg,) = svgs(net_231()._repr_html_())
    drawn = edges(svg)
    strongest = drawn["w = -1: x2 → layer 1, unit 2"]
    assert (strongest["stroke"], strongest["stroke-width"], strongest["stroke-opacity"]) == (NEGATIVE, "3.60", "0.95")
    half = drawn["w = 0.5: unit 1 → output, unit 1"]  # |w| / 1 = 0.5: width 0.4 + 3.2 · 0.5
    assert (half["stroke"], half["stroke-width"]) == (POSITIVE, "2.00")
    zero = drawn["w = 0: x1 → layer 1, unit 3"]
    assert (zero["stroke-width"], zero["stroke-opacity"]) == ("0.40", "0.12")
    # The strongest edges are drawn last, on top.
    assert list(drawn)[-1].startswith("w = -1: unit 2")


def test_nodes_are_filled_by_their_bias() -> None:
    (svg,) = svgs(net_231()._repr_html_())
    layer_1 = next(g for g in svg.iter(f"{SVG}g") if g.get("data-column") == "1" and g.get("class") == "bp-nodes")
    # b = 2, -2, 0 relative to the layer's largest |b| = 2: full blue, full orange, white.
    assert [c.get("fill") for c in layer_1] == [POSITIVE, NEGATIVE, "#ffffff"]
    assert [c.find(f"{SVG}title").text for c in layer_1] == [  # type: ignore[union-attr]
        "layer 1, unit 1: b = 2",
        "layer 1, unit 2: b = -2",
        "layer 1, unit 3: b = 0",
    ]


def test_a_wide_network_shows_its_strongest_units_and_how_many_more() -> None:
    net = bp.Network([bp.Dense(40, "relu"), bp.Dropout(0.25), bp.Dense(3, "softmax")], inputs=100, seed=1)
    page = net._repr_html_()
    parsed = checked(page)
    (svg,) = svgs(page)
    columns = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "bp-nodes"]
    assert [len(g) for g in columns] == [MAX_UNITS_DRAWN, MAX_UNITS_DRAWN, 3]
    lines = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "bp-edges"]
    # 16 × 16 shown units would be 256 edges: each unit keeps its 64 // 16 = 4 strongest inputs.
    assert [len(g) for g in lines] == [MAX_EDGES_DRAWN, 3 * 16]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "+84 more" in texts and "+24 more" in texts
    # The output is Dense layer 3 (the Dropout is layer 2); the dropout is noted under the layer it follows.
    assert {"input", "layer 1", "output", "dropout 0.25", "16 strongest shown"} <= set(texts)
    assert parsed.cells[15:20] == ["2", "dropout, rate 0.25", "40", "—", "0"]
    assert "Layers wider than 16 units show their strongest units" in page


def test_the_shown_units_are_the_strongest() -> None:
    weights = np.zeros((20, 1))
    weights[[3, 17], 0] = [5.0, -4.0]  # two strong inputs among weak ones
    weights[:, 0] += np.linspace(0.0, 0.01, 20)
    (svg,) = svgs(network_html(bp.Network.from_weights([weights])))
    titles = [c.find(f"{SVG}title").text for c in svg.iter(f"{SVG}circle")][:MAX_UNITS_DRAWN]  # type: ignore[union-attr]
    assert "x4" in titles and "x18" in titles and "x1" not in titles  # the weakest are left out


def test_names_from_files_are_escaped_and_shortened() -> None:
    page = network_html(net_231(), inputs=[HOSTILE, "a\x1b[2Jb\u202e"], outputs=['"quoted" & <b>'])
    checked(page)
    (svg,) = svgs(page)
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "<script>alert('x')</scr…" in texts  # 23 characters and an ellipsis
    assert "a\\x1b[2Jb\\u202e" in texts  # control and reordering characters as visible escapes
    assert '"quoted" & <b>' in texts
    assert "&lt;script&gt;" in page and "&quot;quoted&quot; &amp; &lt;b&gt;" in page


def test_names_must_name_every_input_and_output() -> None:
    with pytest.raises(ParameterError, match="inputs must name each of the network's 2 inputs, got 3 names"):
        network_html(net_231(), inputs=["a", "b", "c"])
    with pytest.raises(ParameterError, match="outputs must name each of the network's 1 outputs, got a string"):
        network_html(net_231(), outputs="y")


def test_the_same_network_gives_the_same_bytes() -> None:
    net = bp.Network([bp.Dense(5, "tanh"), bp.Dense(2, "softmax")], inputs=30, seed=3)
    assert net._repr_html_() == net._repr_html_() == net.copy()._repr_html_()
    other = bp.Network([bp.Dense(5, "tanh"), bp.Dense(2, "softmax")], inputs=30, seed=4)
    assert other._repr_html_() != net._repr_html_()


def test_a_large_network_is_drawn_without_copying_its_weights() -> None:
    net = bp.Network([bp.Dense(1500, "relu"), bp.Dense(2)], inputs=1500, seed=0)
    before = net.parameters.copy()
    tracemalloc.start()
    try:
        page = net._repr_html_()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The 1500 × 1500 float32 weights are 9 MB; a float64 copy or a square of them would be 18 MB.
    assert peak < net.parameters.nbytes / 4
    assert "+1,484 more" in page
    np.testing.assert_array_equal(net.parameters, before)


def test_a_nan_weight_is_drawn_grey_and_does_not_break_the_drawing() -> None:
    net = bp.Network.from_weights([np.array([[0.0], [1.0]])])
    net.weights[0][0, 0] = np.nan  # as a diverged run leaves it
    (svg,) = svgs(network_html(net))
    drawn = edges(svg)
    assert drawn["w = nan: x1 → output, unit 1"]["stroke"] == "#999999"
    assert drawn["w = 1: x2 → output, unit 1"]["stroke-width"] == "3.60"


# --------------------------------------------------------------------------- History


def history(**series: list[float]) -> History:
    record = History()
    for epoch in range(len(next(iter(series.values())))):
        record.append(epoch, {key: values[epoch] for key, values in series.items()})
    return record


def curves(svg: ET.Element) -> dict[str, list[tuple[float, float]]]:
    found = {}
    for line in svg.iter(f"{SVG}polyline"):
        points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
        found[line.get("data-series") or ""] = points
    return found  # type: ignore[return-value]


def test_three_epochs_give_three_points_per_curve() -> None:
    record = history(
        loss=[3.0, 2.0, 1.0], val_loss=[0.9, 0.5, 0.7], accuracy=[0.5, 0.6, 0.7], val_accuracy=[0.4, 0.5, 0.5]
    )
    page = record._repr_html_()
    checked(page)
    loss, accuracy = svgs(page)
    assert {k: len(v) for k, v in curves(loss).items()} == {"loss": 3, "val_loss": 3}
    assert {k: len(v) for k, v in curves(accuracy).items()} == {"accuracy": 3, "val_accuracy": 3}
    # Epochs 1, 2, 3 across the plotting area (x from 54 to 346); a falling loss goes down the page.
    points = curves(loss)["loss"]
    assert [x for x, _ in points] == [54.0, 200.0, 346.0]
    assert points[0][1] < points[1][1] < points[2][1]
    assert "History: 3 epochs · best epoch 2 (validation loss 0.5)" in page
    best = [p for p in loss.iter(f"{SVG}path") if p.get("class") == "bp-best"]
    assert [p.get("d") for p in best] == ["M200.0 30.0V192.0"]
    assert "No validation data" not in page


def test_a_nan_breaks_the_curve_and_a_wide_loss_goes_on_a_log_scale() -> None:
    page = history_html({"loss": [100.0, 3.0, 0.5, 0.2], "r2": [-30.0, -0.5, 0.4, 0.8]})
    loss, r2 = svgs(page)
    assert "Loss (log scale)" in [t.text for t in loss.iter(f"{SVG}text")]
    assert "R² (clipped at −1)" in [t.text for t in r2.iter(f"{SVG}text")]
    assert "No validation data: the curves show the training data only." in page
    broken = history_html({"loss": [1.0, math.nan, 0.5, 0.4]})
    (svg,) = svgs(broken)
    assert [len(line.get("points", "").split()) for line in svg.iter(f"{SVG}polyline")] == [1, 2]
    assert "History: 4 epochs · best epoch 4 (training loss 0.4)" in broken


def test_a_history_from_fit_shows_its_curves_and_training_facts() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(np.float64)
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(1, "sigmoid")], inputs=2, seed=0)
    record = net.fit(X, y, loss="binary_crossentropy", epochs=2, validation=(X, y), seed=0)
    page = record._repr_html_()
    checked(page)
    assert len(svgs(page)) == 2  # the loss and the accuracy; the gradient norms are not curves here
    assert "History: 2 epochs · best epoch" in page and "final learning rate 0.01" in page
    assert page == record._repr_html_()


def test_an_empty_history_says_so() -> None:
    page = History()._repr_html_()
    checked(page)
    assert "no epochs recorded yet" in page and "<svg" not in page


def test_a_history_must_be_a_mapping_of_numbers() -> None:
    with pytest.raises(
        BackpropTypeError, match="history must be a mapping of metric name to per-epoch values, got int"
    ):
        history_html(42)  # type: ignore[arg-type]
    with pytest.raises(
        ParameterError, match=r"history\['loss'\] must be a list of numbers, one per epoch, got \['a lot'\]"
    ):
        history_html({"loss": ["a lot"]})


def test_other_keys_of_a_history_are_not_shown() -> None:
    page = history_html({"loss": [1.0, 0.5], HOSTILE: [1.0, 2.0], "grad_norm_1": [0.1, 0.2]})
    checked(page)
    assert "alert" not in page and "grad_norm" not in page
    assert len(svgs(page)) == 1  # the loss alone


# --------------------------------------------------------------------------- Trace


def test_the_explain_trace_shows_its_tables() -> None:
    net, x, y, learning_rate = seed_example()
    trace = bp.explain(net, x, y, learning_rate=learning_rate)
    page = trace._repr_html_()
    assert page == trace.to_html()
    parsed = checked(page)
    # The seed's 3-2-1 network: forward pass, error, output and hidden error terms, weight updates.
    assert parsed.tags.count("table") == 5
    assert "One step of backpropagation: network 3-2-1" in page


def test_a_tabular_model_shows_its_network_in_the_columns_words_and_its_test_metrics() -> None:
    rng = np.random.default_rng(0)
    table = {"petal <b>": rng.normal(size=60).tolist(), "colour": ["red", "blue", "green"] * 20}
    table["kind"] = ["a<script>", "b", "c"] * 20
    model = bp.TabularModel(hidden=[4], epochs=2, seed=0)
    assert model._repr_html_().startswith("<pre>TabularModel(") and "(not fitted)" in model._repr_html_()
    model.fit(table, target="kind")
    shown = model._repr_html_()
    HTMLParser().feed(shown)
    assert "<script" not in shown
    assert "petal &lt;b&gt;" in shown and "colour=red" in shown  # a number column, a one-hot column
    assert "a&lt;script&gt;" in shown  # the classes name the outputs
    assert "<caption>test part</caption>" in shown
    assert f"<td>accuracy</td><td>{model.test_metrics_['accuracy']:.4f}</td>" in shown
