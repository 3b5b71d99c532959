"""Figures of backprop.plotting: what each one draws, saving atomically, matplotlib kept optional."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import backprop as bp
from backprop import plotting
from backprop.errors import MissingDependencyError, ParameterError, ShapeError


def history(epochs: int = 6, validation: bool = True, task: str = "classification") -> dict[str, list[float]]:
    loss = [1.0 / (e + 1) for e in range(epochs)]
    h: dict[str, list[float]] = {"loss": loss}
    metric = "accuracy" if task == "classification" else "r2"
    h[metric] = [0.5 + 0.05 * e for e in range(epochs)]
    if validation:
        # Lowest at epoch 4 (numbered from 1), then rising: overfitting.
        h["val_loss"] = [0.9, 0.6, 0.5, 0.45, 0.5, 0.6][:epochs]
        h[f"val_{metric}"] = [0.5 + 0.04 * e for e in range(epochs)]
    h["lr"] = [0.01] * epochs
    h["seconds"] = [0.1] * epochs
    for layer in (1, 2, 3):
        h[f"grad_norm_{layer}"] = [10.0 ** (-layer) * (1 - 0.1 * e) for e in range(epochs)]
    return h


def small_net() -> bp.Network:
    """2-3-2 with known signs: W1 has 4 positive and 2 negative weights, W2 3 and 3."""
    W1 = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])
    W2 = np.array([[1.0, -1.0], [-0.5, 0.5], [2.0, -2.0]])
    return bp.Network.from_weights(
        [W1, W2], activations=["tanh", "softmax"], biases=[np.array([0.1, -0.1, 0.0]), np.zeros(2)]
    )


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def by_gid(fig: Figure, gid: str):
    found = [a for a in fig.axes[0].get_children() if a.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


# ----------------------------------------------------------------------------- history


def test_history_two_panels_with_validation_and_best_epoch():
    fig = plotting.plot_history(history())
    assert isinstance(fig, Figure)
    loss_ax, metric_ax = fig.axes
    assert loss_ax.get_title() == "Loss"
    assert metric_ax.get_title() == "Accuracy"
    for ax in (loss_ax, metric_ax):
        labels = lines_by_label(ax)
        assert {"training", "validation", "best epoch 4"} <= set(labels)
        # the best-epoch marker is a vertical line at epoch 4
        assert list(labels["best epoch 4"].get_xdata()) == [4, 4]
        assert list(labels["training"].get_xdata()) == [1, 2, 3, 4, 5, 6]


def test_history_without_validation_and_for_regression():
    fig = plotting.plot_history(history(validation=False, task="regression"))
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "R²"]
    for ax in fig.axes:
        labels = set(lines_by_label(ax))
        assert "training" in labels
        assert "validation" not in labels
    # best epoch from the training loss: its last epoch
    assert "best epoch 6" in lines_by_label(fig.axes[0])


def test_history_loss_only_one_panel_and_history_object():
    h = bp.History()
    for epoch, loss in enumerate([3.0, 2.0, 1.5]):
        h.append(epoch, {"loss": loss})
    fig = plotting.plot_history(h)
    assert len(fig.axes) == 1
    assert "best epoch 3" in lines_by_label(fig.axes[0])


def test_history_log_scale_and_r2_clipping():
    h = {"loss": [1000.0, 10.0, 1.0, 0.5], "r2": [-40.0, -2.0, 0.5, 0.8]}
    loss_ax, r2_ax = plotting.plot_history(h).axes
    assert loss_ax.get_yscale() == "log"
    assert r2_ax.get_ylim()[0] == -1.0
    assert "clipped" in r2_ax.get_title()


@pytest.mark.parametrize("bad", [{}, {"loss": []}, {"accuracy": [0.5]}])
def test_history_without_loss_is_an_error(bad):
    with pytest.raises(ParameterError, match="loss"):
        plotting.plot_history(bad)


def test_history_values_must_be_lists():
    with pytest.raises(TypeError, match="history\\['loss'\\]"):
        plotting.plot_history({"loss": "1,2,3"})


# ----------------------------------------------------------------------------- gradient norms


def test_gradient_norms_one_log_curve_per_layer():
    fig = plotting.plot_gradient_norms(history())
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert sorted(lines_by_label(ax)) == ["layer 1", "layer 2", "layer 3"]
    # the ratio of the weakest to the strongest layer at the last epoch is spelled out
    assert "0.01" in ax.get_xlabel()


def test_gradient_norms_twenty_layers_and_zero_norms():
    h = {f"grad_norm_{l}": [0.5**l, 0.5**l] for l in range(1, 21)}
    h["grad_norm_3"] = [0.0, 0.1]
    (ax,) = plotting.plot_gradient_norms(h).axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 20
    assert labels[:3] == ["layer 1", "layer 2", "layer 3 (zero or missing in some epochs)"]


def test_gradient_norms_missing_is_an_error():
    with pytest.raises(ParameterError, match="grad_norm_<layer>"):
        plotting.plot_gradient_norms({"loss": [1.0]})


# ----------------------------------------------------------------------------- network diagram


def test_network_small_draws_every_node_and_edge_coloured_by_sign():
    fig = plotting.plot_network(small_net())
    assert len(fig.axes) == 1
    for column, size in enumerate([2, 3, 2]):
        nodes = by_gid(fig, f"nodes-{column}")
        assert isinstance(nodes, PathCollection)
        assert len(nodes.get_offsets()) == size
    blue, orange = np.array(to_rgba(plotting.POSITIVE))[:3], np.array(to_rgba(plotting.NEGATIVE))[:3]
    for layer, (n_edges, n_positive) in enumerate([(6, 4), (6, 3)], start=1):
        edges = by_gid(fig, f"edges-{layer}")
        assert isinstance(edges, LineCollection)
        assert len(edges.get_segments()) == n_edges
        colours = edges.get_colors()[:, :3]
        assert sum(np.allclose(c, blue) for c in colours) == n_positive
        assert sum(np.allclose(c, orange) for c in colours) == n_edges - n_positive
        # width grows with |w|: the strongest edge is the widest and drawn last (on top)
        widths = edges.get_linewidths()
        assert widths[-1] == max(widths) > min(widths)
    assert not [a for a in fig.axes[0].get_children() if str(a.get_gid()).startswith("more-")]


def test_network_wide_layer_is_summarized():
    net = bp.Network([bp.Dense(10_000, "relu"), bp.Dropout(0.2), bp.Dense(3, "softmax")], inputs=40, seed=0)
    fig = plotting.plot_network(net)
    assert len(by_gid(fig, "nodes-0").get_offsets()) == plotting.MAX_UNITS_DRAWN
    assert len(by_gid(fig, "nodes-1").get_offsets()) == plotting.MAX_UNITS_DRAWN
    assert len(by_gid(fig, "nodes-2").get_offsets()) == 3
    assert by_gid(fig, "more-0").get_text() == "+24 more"
    assert by_gid(fig, "more-1").get_text() == "+9,984 more"
    for column in (1, 2):
        assert len(by_gid(fig, f"edges-{column}").get_segments()) <= plotting.MAX_EDGES_DRAWN
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "10,000 relu" in texts
    assert "dropout 0.2" in texts
    assert "16 strongest shown" in texts


def test_network_wide_shows_the_strongest_units():
    W1 = np.full((1, 40), 0.01)
    W1[0, [3, 17, 30]] = 5.0
    W2 = np.full((40, 1), 0.01)
    fig = plotting.plot_network(bp.Network.from_weights([W1, W2], activations="sigmoid"))
    ys = by_gid(fig, "nodes-1").get_offsets()
    assert len(ys) == plotting.MAX_UNITS_DRAWN
    strongest = by_gid(fig, "edges-1").get_linewidths()
    assert (np.asarray(strongest) > 3).sum() == 3


@pytest.mark.parametrize("depth", [1, 20])
def test_network_one_and_twenty_layers(depth):
    layers = [bp.Dense(5, "tanh") for _ in range(depth - 1)] + [bp.Dense(1, "sigmoid")]
    fig = plotting.plot_network(bp.Network(layers, inputs=3, seed=0))
    assert len([a for a in fig.axes[0].get_children() if str(a.get_gid()).startswith("nodes-")]) == depth + 1
    assert len([a for a in fig.axes[0].get_children() if str(a.get_gid()).startswith("edges-")]) == depth


def test_network_names_its_inputs_and_outputs_in_the_users_words():
    # 40 inputs: the 16 strongest are drawn, each with its column's name (the strongest three: 3, 17, 30).
    W1 = np.full((40, 2), 0.01)
    W1[[3, 17, 30], :] = 5.0
    net = bp.Network.from_weights([W1, np.full((2, 2), 0.5)], activations=["relu", "softmax"])
    names = [f"colour=shade number {i} of the palette" if i == 17 else f"col{i}" for i in range(40)]
    fig = plotting.plot_network(net, inputs=names, outputs=["no", "yes"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "col3" in texts and "col30" in texts and "x4" not in texts
    assert "colour=shade number 17 …" in texts  # 24 characters at most, the rest an ellipsis
    assert "no" in texts and "yes" in texts and "ŷ1" not in texts
    with pytest.raises(bp.ParameterError, match="inputs must name each of the network's 40 inputs, got 3 names"):
        plotting.plot_network(net, inputs=["a", "b", "c"])
    with pytest.raises(bp.ParameterError, match="inputs must name each of the network's 40 inputs, got a string"):
        plotting.plot_network(net, inputs="abc")
    generated = plotting.plot_network(net, inputs=(f"g{i}" for i in range(40)))  # any iterable
    assert "g3" in [t.get_text() for t in generated.axes[0].texts]


def test_network_rejects_other_objects():
    with pytest.raises(TypeError, match="Network"):
        plotting.plot_network("net")


# ----------------------------------------------------------------------------- decision boundary


def moons():
    data = bp.datasets.load("moons", seed=0)
    return data.X_test, data.y_test


def test_decision_boundary_softmax_with_transform_and_labels():
    X, y = moons()
    calls = []

    def transform(points):
        calls.append(points.shape)
        return (points - 0.5) * 2

    fig = plotting.plot_decision_boundary(small_net(), X, y, transform=transform, labels=["upper", "lower $5"])
    (ax,) = fig.axes
    assert calls and all(shape[1] == 2 for shape in calls)
    assert len(ax.get_images()) == 1  # the regions
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"upper ({(y == 0).sum()})", f"lower \\$5 ({(y == 1).sum()})"]
    assert "% of points on their class's side" in ax.get_title()
    # the regions cover the points with a margin
    x0, x1, y0, y1 = ax.get_images()[0].get_extent()
    assert x0 < X[:, 0].min() and x1 > X[:, 0].max() and y0 < X[:, 1].min() and y1 > X[:, 1].max()
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    # The features' names, as the data names them.
    named = plotting.plot_decision_boundary(small_net(), X, y, axes=["petal length", "width $"])
    assert (named.axes[0].get_xlabel(), named.axes[0].get_ylabel()) == ("petal length", "width \\$")


def test_decision_boundary_one_sigmoid_output_thresholds_at_half():
    # p = sigmoid(10 x1): class 1 exactly right of x1 = 0
    net = bp.Network.from_weights([np.array([[10.0], [0.0]])], activations="sigmoid")
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-2.0, 1.0], [2.0, 1.0]])
    fig = plotting.plot_decision_boundary(net, X, np.array([0, 1, 0, 1]))
    ax = fig.axes[0]
    regions = ax.get_images()[0].get_array()
    assert set(np.unique(regions)) == {0, 1}
    assert regions[:, 0].max() == 0 and regions[:, -1].min() == 1
    assert "100.0%" in ax.get_title()


def test_decision_boundary_regression_surface():
    net = bp.Network.from_weights([np.array([[1.0], [2.0]])], activations="identity")
    X = np.random.default_rng(0).normal(size=(20, 2))
    fig = plotting.plot_decision_boundary(net, X, X @ [1.0, 2.0])
    assert len(fig.axes) == 2  # the surface and its colour bar


def test_decision_boundary_shape_errors():
    X, y = moons()
    with pytest.raises(ShapeError, match=r"\(n_samples, 2\)"):
        plotting.plot_decision_boundary(small_net(), np.c_[X, X], y)
    with pytest.raises(ShapeError, match="y must have shape"):
        plotting.plot_decision_boundary(small_net(), X, y[:-1])
    net3 = bp.Network([bp.Dense(2, "softmax")], inputs=3, seed=0)
    with pytest.raises(ShapeError, match="transform"):
        plotting.plot_decision_boundary(net3, X, y)
    with pytest.raises(ValueError, match="class indices"):
        plotting.plot_decision_boundary(small_net(), X, y + 0.5)


# ----------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_counts_and_row_percentages():
    matrix = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])
    fig = plotting.plot_confusion_matrix(matrix, ["cat", "dog", "<script>$x$"])
    ax, _colorbar = fig.axes
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9
    assert texts[0] == "8\n80%" and texts[1] == "2\n20%" and texts[4] == "9\n90%"
    assert texts[2] == "0" and texts[8] == "0"  # empty cells (and an empty row: no NaN) show a plain 0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "<script>\\$x\\$"]


def test_confusion_matrix_errors():
    with pytest.raises(ShapeError, match="square"):
        plotting.plot_confusion_matrix(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ShapeError, match="labels"):
        plotting.plot_confusion_matrix(np.zeros((2, 2)), ["a"])
    with pytest.raises(ValueError, match="non-negative"):
        plotting.plot_confusion_matrix(-np.ones((2, 2)), ["a", "b"])


# ----------------------------------------------------------------------------- saving


def test_save_png_svg_pdf(tmp_path):
    fig = plotting.plot_confusion_matrix(np.eye(2), ["a", "b"])
    plotting.save_figure(fig, tmp_path / "m.png")
    plotting.save_figure(fig, tmp_path / "m.SVG", dpi=72)
    plotting.save_figure(fig, str(tmp_path / "m.pdf"))
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    root = ET.fromstring((tmp_path / "m.SVG").read_bytes())
    assert root.tag.endswith("svg")
    assert (tmp_path / "m.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(os.listdir(tmp_path)) == ["m.SVG", "m.pdf", "m.png"]
    # the figure is still open and usable
    assert plotting.render_figure(fig, "svg").lstrip().startswith(b"<?xml")
    assert b"http" not in plotting.render_figure(fig, "png")  # no software URL in the metadata


def test_save_is_atomic_when_rendering_fails(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"previous")
    fig = plotting.plot_history(history())
    fig.axes[0].set_title(r"$\frac{$")  # bad mathtext: raises while drawing
    with pytest.raises(ValueError):
        plotting.save_figure(fig, target)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["plot.png"]


def test_save_rejects_unknown_suffix_and_bad_dpi(tmp_path):
    fig = plotting.plot_history(history())
    with pytest.raises(ParameterError, match=r"\.png"):
        plotting.save_figure(fig, tmp_path / "plot.jpg")
    with pytest.raises(ParameterError, match="dpi"):
        plotting.save_figure(fig, tmp_path / "plot.png", dpi=0)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- matplotlib stays optional


def test_import_backprop_does_not_import_matplotlib():
    code = (
        "import sys, backprop, backprop.plotting, backprop.report; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'matplotlib'], 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_matplotlib_every_function_says_how_to_install(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    X, y = np.zeros((2, 2)), np.array([0, 1])
    calls = [
        lambda: plotting.plot_history(history()),
        lambda: plotting.plot_gradient_norms(history()),
        lambda: plotting.plot_network(small_net()),
        lambda: plotting.plot_decision_boundary(small_net(), X, y),
        lambda: plotting.plot_confusion_matrix(np.eye(2), ["a", "b"]),
        lambda: plotting.save_figure(None, "x.png"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(MissingDependencyError, match=r"pip install 'backprop\[plot\]'"):
            call()
