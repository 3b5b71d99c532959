"""``explain``: every quantity of one backpropagation step, in the seed's words.

For each layer the trace holds the input, ``z``, the output, ``f'(z)``, the
error term and the weight update, with the formula that produced each::

    error               = y − ŷ
    output error term   δᵒ = (y − ŷ) ⊙ f'(z)       (y − ŷ for the fused pairs)
    hidden error term   δʰ = (δ W ᵀ) ⊙ f'(h)       the seed's  δʰ = W δᵒ f'(h)
    weight update       ΔW = η aᵀ δ / n            the seed's  Δw = η δ x

The step is computed in float64 on a copy: the network is not changed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import FloatArray, check_positive
from .errors import DataError
from .losses import Loss
from .network import Network, as_network
from .step import mean_scale, overflowed
from .textbook import Backpropagation, backpropagate

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult


@dataclass(frozen=True)
class Quantity:
    """One named value of the step: the seed's word for it, its formula and its value."""

    name: str
    formula: str
    value: FloatArray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)


@dataclass
class LayerTrace:
    """The forward and backward quantities of one layer (``index`` from 1).

    Attributes
    ----------
    input : ndarray of shape (n_samples, n_in)
        ``a[l-1]`` (``x`` for the first layer).
    z : ndarray of shape (n_samples, units)
    output : ndarray of shape (n_samples, units)
        ``a[l] = f(z[l])``.
    derivative : ndarray of shape (n_samples, units), or (n_samples, units, units) for softmax
        ``f'(z[l])``.
    error_term : ndarray of shape (n_samples, units)
        ``δ[l] = −∂ℓ/∂z[l]`` per sample: the output or hidden error term.
    weight_delta : ndarray of shape (n_in, units)
        ``ΔW[l] = −η ∂L/∂W[l]``.
    bias_delta : ndarray of shape (units,) or None
    """

    index: int
    is_output: bool
    activation: str
    weights: FloatArray
    bias: FloatArray | None
    input: FloatArray
    z: FloatArray
    output: FloatArray
    derivative: FloatArray
    error_term: FloatArray
    weight_delta: FloatArray
    bias_delta: FloatArray | None
    forward: list[Quantity] = field(default_factory=list)
    backward: list[Quantity] = field(default_factory=list)


@dataclass
class Trace:
    """One forward and backward pass, layer by layer; ``print`` it for the tables.

    Attributes
    ----------
    layers : list of LayerTrace
    x : ndarray of shape (n_samples, n_inputs)
    y : ndarray of shape (n_samples, n_outputs)
        The targets as the loss sees them (class indices become one-hot rows).
    prediction : ndarray of shape (n_samples, n_outputs)
    error : ndarray of shape (n_samples, n_outputs)
        The seed's error ``y − ŷ``.
    loss : str
    loss_value : float
    learning_rate : float
    """

    layers: list[LayerTrace]
    x: FloatArray
    y: FloatArray
    prediction: FloatArray
    error: FloatArray
    loss: str
    loss_formula: str
    loss_value: float
    learning_rate: float
    sample_weight: FloatArray | None

    @property
    def weight_deltas(self) -> list[FloatArray]:
        """``ΔW[l]`` per layer, shaped like ``net.weights``."""
        return [layer.weight_delta for layer in self.layers]

    @property
    def bias_deltas(self) -> list[FloatArray | None]:
        """``Δb[l]`` per layer (None for a layer without bias)."""
        return [layer.bias_delta for layer in self.layers]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.table import Table
        from rich.text import Text

        n = self.x.shape[0]
        sizes = "-".join(str(s) for s in [self.x.shape[1], *(layer.z.shape[1] for layer in self.layers)])
        yield Text(
            f"One step of backpropagation: network {sizes}, loss {self.loss}, "
            f"η = {self.learning_rate!r}, {n} sample{'s' if n != 1 else ''}",
            style="bold",
        )
        # Arrays get about half the width; names and formulas wrap in the rest.
        value_width = max(24, options.max_width // 2 - 8)
        for title, part in (("Forward pass", "forward"), ("Backward pass", "backward")):
            table = Table(title=title, title_justify="left", title_style="bold", expand=False)
            table.add_column("layer", no_wrap=True)
            table.add_column("quantity", min_width=10)
            table.add_column("formula", min_width=12)
            table.add_column("shape", no_wrap=True)
            table.add_column("value", no_wrap=True, overflow="ellipsis")
            layers = self.layers if part == "forward" else list(reversed(self.layers))
            for position, layer in enumerate(layers):
                if position:
                    table.add_section()
                for i, q in enumerate(getattr(layer, part)):
                    # Text, not markup: formulas such as "[a > 0]" are not style tags.
                    table.add_row(
                        str(layer.index) if i == 0 else "",
                        Text(q.name),
                        Text(q.formula),
                        str(q.shape),
                        Text(_format(q.value, squeeze=n == 1, width=value_width)),
                    )
            if part == "forward":
                table.add_section()
                table.add_row("", "loss", Text(self.loss_formula), "()", f"{self.loss_value:.8g}")
            yield table

    # ------------------------------------------------------------ other formats

    @property
    def sizes(self) -> list[int]:
        """Widths from the input through every traced layer, e.g. ``[3, 2, 1]``."""
        return [int(self.x.shape[1]), *(int(layer.z.shape[1]) for layer in self.layers)]

    def _headline(self) -> str:
        n = self.x.shape[0]
        return (
            f"One step of backpropagation: network {'-'.join(map(str, self.sizes))}, loss {self.loss}, "
            f"η = {self.learning_rate!r}, {n} sample{'s' if n != 1 else ''}"
        )

    def _sections(self) -> list[tuple[str, list[tuple[str, Quantity]]]]:
        """The seed's sections, each a list of (layer label, quantity)."""
        n = self.x.shape[0]
        forward = [(str(layer.index), q) for layer in self.layers for q in layer.forward]
        output = self.layers[-1]
        error = [
            ("", Quantity("target y", "y", self.y)),
            ("", Quantity("output ŷ", f"ŷ = a[{output.index}]", self.prediction)),
            ("", Quantity("error", "error = y − ŷ", self.error)),
            ("", Quantity("loss", self.loss_formula, np.asarray(self.loss_value))),
        ]

        def terms(layer: LayerTrace) -> list[tuple[str, Quantity]]:
            return [
                (str(layer.index), q)
                for q in layer.backward
                if q.name.startswith("f'") or q.name.endswith("error term")
            ]

        hidden = [item for layer in reversed(self.layers[:-1]) for item in terms(layer)]
        updates = [(str(layer.index), q) for layer in self.layers for q in layer.backward if q.name.endswith("update")]
        sections = [
            ("Forward pass", forward),
            ("Error", error),
            ("Output error term δᵒ", terms(output)),
        ]
        if hidden:
            sections.append(("Hidden error terms δʰ", hidden))
        sections.append(
            (
                f"Weight updates ΔW (η = {self.learning_rate:.8g}, averaged over {n} samples)"
                if n > 1
                else f"Weight updates ΔW (η = {self.learning_rate:.8g})",
                updates,
            )
        )
        return sections

    def to_dict(self) -> dict[str, Any]:
        """The trace as plain JSON values (arrays as nested lists).

        Returns
        -------
        dict
            ``network`` (widths), ``loss``, ``loss_formula``, ``loss_value``,
            ``learning_rate``, ``n_samples``, ``x``, ``y``, ``prediction``,
            ``error``, and ``layers``: per layer ``index``, ``is_output``,
            ``activation``, ``forward`` and ``backward``, each a list of
            ``{"name", "formula", "shape", "value"}`` in the seed's words.
        """

        def quantity(q: Quantity) -> dict[str, Any]:
            return {"name": q.name, "formula": q.formula, "shape": list(q.shape), "value": q.value.tolist()}

        return {
            "network": self.sizes,
            "loss": self.loss,
            "loss_formula": self.loss_formula,
            "loss_value": float(self.loss_value),
            "learning_rate": float(self.learning_rate),
            "n_samples": int(self.x.shape[0]),
            "x": self.x.tolist(),
            "y": self.y.tolist(),
            "prediction": self.prediction.tolist(),
            "error": self.error.tolist(),
            "layers": [
                {
                    "index": layer.index,
                    "is_output": layer.is_output,
                    "activation": layer.activation,
                    "forward": [quantity(q) for q in layer.forward],
                    "backward": [quantity(q) for q in layer.backward],
                }
                for layer in self.layers
            ],
        }

    def to_markdown(self) -> str:
        """The trace as Markdown: a headline and one table per section of the seed.

        Sections: forward pass, error, output error term δᵒ, hidden error
        terms δʰ (with hidden layers), weight updates ΔW. Values are on one
        line each, as numpy prints them.
        """
        squeeze = self.x.shape[0] == 1
        lines = [f"**{self._headline()}**", ""]
        for title, rows in self._sections():
            lines += [f"### {title}", "", "| layer | quantity | formula | shape | value |", "|---|---|---|---|---|"]
            for layer, q in rows:
                value = " ".join(_format(q.value, squeeze, width=1_000_000).split())
                cells = [layer, q.name, q.formula, str(q.shape), f"`{value}`"]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def to_html(self) -> str:
        """The trace as a self-contained HTML fragment (no scripts, no external references).

        A ``<section class="bp-trace">`` with a headline and one table per
        section of the seed (forward pass, error, output error term δᵒ,
        hidden error terms δʰ, weight updates ΔW), and a small ``<style>``
        scoped to ``.bp-trace``. Wide tables scroll sideways on a narrow screen.
        """
        from html import escape

        squeeze = self.x.shape[0] == 1
        parts = [
            '<section class="bp-trace">',
            "<style>"
            ".bp-trace{font-family:system-ui,sans-serif;line-height:1.4}"
            ".bp-trace .bp-scroll{overflow-x:auto;margin-bottom:1em}"
            ".bp-trace table{border-collapse:collapse;font-size:0.9em}"
            ".bp-trace th,.bp-trace td{border:1px solid #ccc;padding:0.25em 0.5em;text-align:left;"
            "vertical-align:top}"
            ".bp-trace th{background:#f3f3f3}"
            ".bp-trace pre{margin:0;font-size:0.95em;white-space:pre}"
            ".bp-trace h3{font-size:1.05em;margin:1em 0 0.4em}"
            "</style>",
            f'<p class="bp-trace-headline"><strong>{escape(self._headline())}</strong></p>',
        ]
        for title, rows in self._sections():
            parts.append(f"<h3>{escape(title)}</h3>")
            parts.append('<div class="bp-scroll"><table class="bp-trace-table">')
            parts.append(
                "<thead><tr><th>layer</th><th>quantity</th><th>formula</th><th>shape</th><th>value</th></tr></thead>"
            )
            parts.append("<tbody>")
            for layer, q in rows:
                value = _format(q.value, squeeze, width=72)
                parts.append(
                    f"<tr><td>{escape(layer)}</td><td>{escape(q.name)}</td><td>{escape(q.formula)}</td>"
                    f"<td>{escape(str(q.shape))}</td><td><pre>{escape(value)}</pre></td></tr>"
                )
            parts.append("</tbody></table></div>")
        parts.append("</section>")
        return "\n".join(parts) + "\n"

    def __str__(self) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        Console(width=160, color_system=None, force_terminal=False, file=buffer).print(self)
        return buffer.getvalue().rstrip()

    def __repr__(self) -> str:
        return f"Trace(layers={len(self.layers)}, loss={self.loss!r}, loss_value={self.loss_value!r})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the tables of :meth:`to_html`."""
        return self.to_html()


def _format(value: FloatArray, squeeze: bool, width: int) -> str:
    """An array the way numpy prints it; one sample's rows shown as the seed's vectors."""
    if squeeze and value.ndim >= 2 and value.shape[0] == 1:
        value = value[0]
    return np.array2string(value, precision=8, threshold=64, edgeitems=3, max_line_width=width)


def explain(
    net: Network,
    x: Any,
    y: Any,
    learning_rate: float = 0.1,
    loss: str | Loss = "mse",
    sample_weight: Any = None,
) -> Trace:
    """Trace one forward and backward pass of ``net`` on ``(x, y)``.

    Parameters
    ----------
    net : Network
        Left unchanged; the step runs in float64 on a copy.
    x : array_like of shape (n_inputs,) or (n_samples, n_inputs)
    y : array_like
        The target(s), as for :meth:`Network.gradients`.
    learning_rate : float, default 0.1
        ``η`` of the weight updates ``ΔW = η aᵀ δ / n``.
    loss : {"mse", "binary_crossentropy", "crossentropy"} or Loss, default "mse"
    sample_weight : array_like of shape (n_samples,), optional

    Returns
    -------
    Trace
        ``trace.weight_deltas`` holds the ΔW arrays; ``print(trace)`` the tables.
    """
    learning_rate = check_positive(learning_rate, "learning_rate")
    net64 = as_network(net).copy(dtype=np.float64)
    inputs, targets, loss_fn, weights = net64.check_data(x, y, loss, sample_weight)
    n = inputs.shape[0]
    share = mean_scale(n, weights, net64.dtype)
    per_n = "/ n" if weights is None else "weighted by w / Σw"
    # Dropout layers pass their input through outside training: the step is the dense layers'.
    dense_layers = net64.dense_layers
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # The seed's algorithm, written plainly (backprop.textbook): η scales the product xᵀ δ, not x,
        # so a huge η or a huge input overflows only when the update itself does.
        step = backpropagate(
            [layer.W for layer in dense_layers],
            [layer.b for layer in dense_layers],
            [layer.activation for layer in dense_layers],
            loss_fn,
            inputs,
            targets,
            learning_rate,
            share,
        )
    _check_finite(net64, step, inputs)

    last = len(net64.layers)
    traces: list[LayerTrace] = []
    for k, layer in enumerate(dense_layers):
        index = layer.index
        is_output = index == last
        below = inputs.copy() if k == 0 else step.layer_outputs[k - 1]
        a_name = "x" if k == 0 else f"a[{dense_layers[k - 1].index}]"
        z, a = step.layer_inputs[k], step.layer_outputs[k]
        error_term = step.error_terms[k]
        weight_delta, bias_delta = step.weight_updates[k], step.bias_updates[k]
        if not np.isfinite(weight_delta).all() or (bias_delta is not None and not np.isfinite(bias_delta).all()):
            raise DataError(
                f"the weight update of layer {index} is not finite (η = {learning_rate:.6g}): "
                "use a smaller learning rate or scale the inputs"
            )
        act = layer.activation
        role = "output" if is_output else "hidden"
        bias_term = f" + b[{index}]" if layer.b is not None else ""
        f_name = "ŷ" if is_output else f"a[{index}]"
        definition = "" if act.formula == f"{act.name}(z)" else f",  {act.name}(z) = {act.formula}"

        forward = [Quantity("input" if k else "input x", a_name, below)]
        forward.append(Quantity("weights", f"W[{index}]", layer.W.copy()))
        if layer.b is not None:
            forward.append(Quantity("bias", f"b[{index}]", layer.b.copy()))
        forward.append(Quantity(f"{role} layer input", f"z[{index}] = {a_name} · W[{index}]{bias_term}", z))
        forward.append(
            Quantity(
                "output ŷ" if is_output else f"{role} layer output",
                f"{f_name} = {act.name}(z[{index}])" + definition,
                a,
            )
        )

        backward: list[Quantity] = []
        derivative = act.derivative(z, a)
        if is_output:
            backward.append(Quantity("error", "error = y − ŷ", targets - a))
        backward.append(Quantity(f"f'(z[{index}])", f"{act.name}'(z) = {act.derivative_formula}", derivative))
        if is_output and loss_fn.is_fused(act):
            term = f"δ[{index}] = y − ŷ   ({act.name} with {loss_fn.name}: f' cancels)"
        elif is_output and act.name == "softmax":
            term = f"δ[{index}] = f'(z[{index}])ᵀ (y − ŷ)   (softmax Jacobian)"
        elif is_output:
            term = f"δ[{index}] = (y − ŷ) ⊙ f'(z[{index}])"
        else:
            above = dense_layers[k + 1].index
            term = f"δ[{index}] = (δ[{above}] · W[{above}]ᵀ) ⊙ f'(z[{index}])"
        backward.append(Quantity("output error term" if is_output else "hidden error term", term, error_term))
        backward.append(Quantity("weight update", f"ΔW[{index}] = η · {a_name}ᵀ · δ[{index}] {per_n}", weight_delta))
        if bias_delta is not None:
            backward.append(Quantity("bias update", f"Δb[{index}] = η · Σ δ[{index}] {per_n}", bias_delta))

        traces.append(
            LayerTrace(
                index=index,
                is_output=is_output,
                activation=act.name,
                weights=layer.W.copy(),
                bias=None if layer.b is None else layer.b.copy(),
                input=below,
                z=z,
                output=a,
                derivative=derivative,
                error_term=error_term,
                weight_delta=weight_delta,
                bias_delta=bias_delta,
                forward=forward,
                backward=backward,
            )
        )
    prediction = step.layer_outputs[-1]
    return Trace(
        layers=traces,
        x=inputs.copy(),
        y=targets,
        prediction=prediction,
        error=targets - prediction,
        loss=loss_fn.name,
        loss_formula=loss_fn.formula,
        loss_value=loss_fn.value(step.layer_inputs[-1], prediction, targets, weights),
        learning_rate=learning_rate,
        sample_weight=weights,
    )


def _check_finite(net: Network, step: Backpropagation, inputs: FloatArray) -> None:
    """Raise :class:`DataError` as ``Network.gradients`` would: the first layer whose ``h`` overflowed,
    else the last layer (from the output down) whose gradient ``xᵀ δ`` is not finite."""
    for layer, h in zip(net.dense_layers, step.layer_inputs, strict=True):
        if not np.isfinite(h).all():
            net.check_parameters()  # a weight that is not finite is named first
            raise overflowed(layer.index, inputs, net.dtype)
    below = [inputs, *step.layer_outputs[:-1]]
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(len(below) - 1, -1, -1):
            layer, delta = net.dense_layers[k], step.error_terms[k]
            parts = [below[k].T @ delta] + ([delta.sum(axis=0)] if layer.b is not None else [])
            if all(np.isfinite(part).all() for part in parts):
                continue
            nan = any(np.isnan(part).any() for part in parts)
            cause = (
                "an activation's derivative returned NaN, or the backward pass overflowed" if nan else "it overflowed"
            )
            raise DataError(
                f"the gradient of layer {layer.index} is not finite in float64 ({cause}); scale the inputs or targets"
            )


def seed_example() -> tuple[Network, FloatArray, float, float]:
    """The seed's 3-2-1 sigmoid network and its one sample, drawn as the seed draws them.

    ``numpy.random.seed(18)``, then in order: ``x = randn(3)``, the target,
    the learning rate, ``W_ih = random((3, 2))`` and ``W_ho = random((2, 1))``.

    Returns
    -------
    net : Network (float64, no biases)
    x : ndarray of shape (3,)
    target : float
    learning_rate : float
    """
    legacy = np.random.RandomState(18)
    x = legacy.randn(3)
    target = legacy.random_sample()
    learning_rate = legacy.random_sample()
    weights_input_to_hidden = legacy.random_sample((3, 2))
    weights_hidden_to_output = legacy.random_sample((2, 1))
    net = Network.from_weights([weights_input_to_hidden, weights_hidden_to_output], activations="sigmoid")
    return net, x, float(target), float(learning_rate)


__all__ = ["LayerTrace", "Quantity", "Trace", "explain", "seed_example"]
