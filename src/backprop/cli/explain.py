"""``backprop explain``: why a model predicted what it did for a row, or every quantity of one backpropagation step.

``explain MODEL DATA --row N`` answers "why this prediction?": the prediction,
its probabilities and each column's contribution (:mod:`backprop.attribution`).
``--trace`` (or ``--lr``, ``--format markdown|html``) shows the learner's view
instead: one backpropagation step on the row, which needs its target.

Also the seed's worked example (:func:`print_seed_example`, shown by ``demo``
too) and the random networks of ``explain --sizes`` and ``gradcheck``
(:func:`random_problem`).

Imports click, numpy and the CLI's shared modules.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import numpy as np
from numpy.typing import NDArray
from rich.table import Table
from rich.text import Text

from .. import _terminal
from ..attribution import DEFAULT_STEPS, RowExplanation, explain_table_rows
from ..errors import BackpropError, DataError
from ..explain import Trace, explain, seed_example
from ..heads import Model, load_model
from ..layers import Dense
from ..network import Network
from ..tabular import Frame, iter_tables
from ._common import (
    DEFAULT_OUTPUT,
    check_data_argument,
    console,
    option_activation,
    option_bias,
    option_json,
    option_loss,
    option_output,
    option_seed,
    option_sizes,
    option_threads,
    print_json,
    print_line,
    reports_errors,
)

SEED_CODE = (
    "numpy.random.seed(18); x = randn(3); y = random(); η = random(); W_ih = random((3, 2)); W_ho = random((2, 1))"
)


def random_problem(
    sizes: list[int], activation: str, output: str, loss: str, samples: int, bias: bool, seed: int
) -> tuple[Network, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """A random network of the given widths and a random batch with targets fit for ``loss``."""
    layers = [Dense(width, activation, bias=bias) for width in sizes[1:-1]]
    layers.append(Dense(sizes[-1], output, bias=bias))
    net = Network(layers, inputs=sizes[0], seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    X = rng.normal(size=(samples, sizes[0]))
    y: np.ndarray[Any, Any]
    if loss == "crossentropy":
        y = rng.integers(0, sizes[-1], size=samples)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(samples, sizes[-1])).astype(float)
    else:
        y = rng.random((samples, sizes[-1]))
    return net, X, y


def seed_trace() -> Trace:
    """The trace of the seed's worked example (DESIGN.md §2)."""
    net, x, target, learning_rate = seed_example()
    return explain(net, x, target, learning_rate=learning_rate, loss="mse")


def print_seed_example() -> Trace:
    """Print the seed's worked example: initial values, the trace and the seed's two results."""
    net, x, target, learning_rate = seed_example()
    trace = explain(net, x, target, learning_rate=learning_rate, loss="mse")
    console.print("[bold]The seed's worked example[/bold]: a 3-2-1 sigmoid network, one sample, one step.")
    console.print(f"Initial values, drawn as the seed draws them: {SEED_CODE}")
    console.print(f"  y = {target!r}   η = {learning_rate!r}\n")
    console.print(trace)
    console.print()
    # The seed's own print statements, with numpy's own formatting.
    console.print("Change in weights for hidden layer to output layer:")
    console.print(str(trace.weight_deltas[1].ravel()))
    console.print("Change in weights for input layer to hidden layer:")
    console.print(str(trace.weight_deltas[0]))
    return trace


def xor_trace() -> Trace:
    """One step of a 2-2-1 sigmoid network (seed 0) on the four XOR points, η = 0.5."""
    net = Network([Dense(2, "sigmoid"), Dense(1, "sigmoid")], inputs=2, seed=0, dtype=np.float64)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    return explain(net, X, y, learning_rate=0.5, loss="mse")


def _show_trace(trace: Trace, fmt: str) -> None:
    if fmt == "json":
        print_json(trace.to_dict())
    elif fmt == "markdown":
        click.echo(trace.to_markdown(), nl=False)
    elif fmt == "html":
        click.echo(trace.to_html(), nl=False)
    else:
        console.print(trace)


@click.command(name="explain")
@click.argument("model", required=False, type=click.Path(exists=True, dir_okay=False))
@click.argument("data", required=False)
@click.option("--row", type=click.IntRange(min=0), default=0, show_default=True, help="The row of DATA (0-based).")
@click.option(
    "--trace",
    "show_trace",
    is_flag=True,
    help="MODEL DATA: one backpropagation step on the row (needs its target) instead of why it was predicted; "
    "--lr and --format markdown|html imply it.",
)
@click.option(
    "--steps",
    default=DEFAULT_STEPS,
    show_default=True,
    type=click.IntRange(min=1),
    help="MODEL DATA: points of the integrated gradients' path integral "
    "(doubled while the contributions miss the total by more than 1e-3, up to 1024).",
)
@click.option(
    "--top",
    default=20,
    show_default=True,
    type=click.IntRange(min=0),
    help="MODEL DATA: columns shown in the table (0: all; --json has all).",
)
@click.option("--example", type=click.Choice(["seed", "xor"]), default=None, help="A worked example instead.")
@option_sizes
@option_activation
@option_output
@option_loss
@option_bias
@click.option("--samples", default=1, show_default=True, type=click.IntRange(min=1), help="Samples in the batch.")
@click.option(
    "--lr",
    "learning_rate",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Learning rate η [default: 0.5, or the model's training rate].",
)
@option_seed
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "html", "json"]),
    default="text",
    show_default=True,
    help="How to show the trace.",
)
@option_json
@option_threads("the BLAS's own setting")
@reports_errors
def explain_command(
    model: str | None,
    data: str | None,
    row: int,
    show_trace: bool,
    steps: int,
    top: int,
    example: str | None,
    sizes: list[int],
    activation: str,
    output: str | None,
    loss: str,
    bias: bool,
    samples: int,
    learning_rate: float | None,
    seed: int,
    fmt: str,
    as_json: bool,
) -> None:
    """Why a model predicted what it did for a row, or every quantity of one backpropagation step.

    \b
    backprop explain MODEL DATA --row N   the prediction and each column's contribution to it
    backprop explain MODEL DATA --row N --trace   one step of backpropagation on the row
    backprop explain --example seed       the seed's 3-2-1 sigmoid network
    backprop explain --example xor        a 2-2-1 network on the four XOR points
    backprop explain --sizes 4,8,3        a random network of these widths
    """
    if as_json:
        fmt = "json"
    if model is not None and example is not None:
        raise click.UsageError("give either MODEL DATA or --example, not both")
    if model is not None:
        if data is None:
            raise click.UsageError("explain MODEL needs DATA too: backprop explain MODEL DATA --row N")
        if show_trace or learning_rate is not None or fmt in ("markdown", "html"):
            _explain_model(model, data, row, learning_rate, fmt)
        else:
            _why(model, data, row, steps, top, fmt == "json")
        return
    if example == "seed":
        if fmt == "text":
            print_seed_example()
        else:
            _show_trace(seed_trace(), fmt)
        return
    if example == "xor":
        trace = xor_trace()
        if fmt == "text":
            console.print("[bold]XOR[/bold]: a 2-2-1 sigmoid network (seed 0), the four points as one batch.")
        _show_trace(trace, fmt)
        return
    output = output or DEFAULT_OUTPUT[loss]
    try:
        net, X, y = random_problem(sizes, activation, output, loss, samples, bias, seed)
        trace = explain(net, X, y, learning_rate=learning_rate or 0.5, loss=loss)
    except BackpropError as exc:  # a combination of options that cannot work
        raise click.UsageError(str(exc)) from exc
    _show_trace(trace, fmt)


def _read_row(data: str, row: int) -> Frame:
    stdin = sys.stdin.buffer if data == "-" else None
    total = 0
    for frame in iter_tables(data, stdin=stdin):
        if row < frame.offset + frame.n_rows:
            part = frame.take(np.array([row - frame.offset]))
            part.offset = row
            return part
        total = frame.offset + frame.n_rows
    raise DataError(f"{data} has {total} rows; --row must be in 0..{total - 1}" if total else f"{data} has no rows")


def _explain_model(path: str, data: str, row: int, learning_rate: float | None, fmt: str) -> None:
    check_data_argument(data, path, usage="backprop explain MODEL DATA --row N")
    model = load_model(path)
    frame = _read_row(data, row)
    if not model.pre.has_target(frame):
        raise DataError(
            f"{data} has no target column {model.pre.target.name!r}; "
            "explain --trace needs the row's target to compute the error (without --trace, explain says why "
            "the model predicted what it did)"
        )
    y, missing = model.pre.targets(frame)
    if missing.any():
        raise DataError(f"{data}: {frame.where(0)} has no target value in column {model.pre.target.name!r}")
    X = model.pre.transform(frame)
    if learning_rate is None:
        training = model.metadata.get("training")
        stored = training.get("learning_rate") if isinstance(training, dict) else None
        learning_rate = float(stored) if isinstance(stored, int | float) and stored > 0 else 0.5
    trace = explain(model.net, X, model.head.targets(y), learning_rate=learning_rate, loss=model.head.loss)
    if fmt != "text":
        if fmt == "json":
            print_json({"model": path, "data": data, "row": row, **_row_context(model, y, X), "trace": trace.to_dict()})
        else:
            _show_trace(trace, fmt)
        return
    context = _row_context(model, y, X)
    print_line(
        f"{data}, row {row}: target {context['target']!r}, predicted {context['prediction']!r}"
        + (f" (p = {context['probability']:.4f})" if "probability" in context else "")
    )
    console.print(trace)


def _row_context(model: Model, y: NDArray[Any], X: NDArray[Any]) -> dict[str, Any]:
    output = model.net.predict(X)
    if model.head.task == "classification":
        proba = model.head.probabilities(output)[0]
        index = int(proba.argmax())
        return {
            "target": model.pre.classes[int(y[0])],
            "prediction": model.pre.classes[index],
            "probability": float(proba[index]),
        }
    return {
        "target": float(model.pre.target_values(y)[0]),
        "prediction": float(model.pre.target_values(output[:, 0])[0]),
    }


# --------------------------------------------------------------------------- why this prediction


def _why(path: str, data: str, row: int, steps: int, top: int, as_json: bool) -> None:
    check_data_argument(data, path, usage="backprop explain MODEL DATA --row N")
    model = load_model(path)
    frame = _read_row(data, row)
    found = explain_table_rows(model.net, model.pre, model.head, frame, steps=steps)[0]
    target = _target_of(model, frame)
    if as_json:
        print_json({"model": path, "data": data, **found.to_dict(), **({} if target is None else {"target": target})})
        return
    print_line(
        f"{data}, row {row}: predicted {_shown(found.prediction)}"
        + (f" (p = {dict(found.probabilities)[found.prediction]:.4f})" if found.probabilities else "")
        + ("" if target is None else f"; target {_shown(target)}")
    )
    if found.probabilities:
        ranked = sorted(found.probabilities, key=lambda pair: -pair[1])
        shown = ", ".join(f"{_shown(label)} {p:.4f}" for label, p in ranked[:TOP_CLASSES])
        more = len(ranked) - TOP_CLASSES
        print_line(f"probabilities: {shown}" + (f", and {more} more classes" if more > 0 else ""))
    print_line(f"why: each column's contribution to {found.explained}, largest first")
    console.print(_contributions_table(found, top))
    rest = found.columns[top:] if top else []
    if rest:
        print_line(
            f"... and {len(rest)} more columns, together "
            f"{sum(c.integrated_gradients for c in rest):+.4f} (--top 0 shows all)"
        )
    print_line(
        f"{found.explained} = {found.value:.6g} for this row, {found.baseline_value:.6g} at the baseline "
        "(each number column at its training mean, each category column at 1/k per category); "
        f"the contributions add up to the difference to within {abs(found.gap):.1e} "
        f"(integrated gradients, {found.steps} steps)"
    )


#: Classes whose probability the text shows (all are in --json).
TOP_CLASSES = 10


def _contributions_table(found: RowExplanation, top: int) -> Table:
    # Text cells: a column name or a category may hold brackets that rich would read as markup.
    table = Table(box=None, pad_edge=False)
    table.add_column("column")
    table.add_column("value")
    table.add_column("contribution", justify="right")
    table.add_column("gradient × input", justify="right")
    for c in found.columns[:top] if top else found.columns:
        value = "" if c.value is None else (f"{c.value:.6g}" if isinstance(c.value, float) else c.value)
        table.add_row(
            Text(_terminal.shown(c.column)),
            Text(_terminal.shown(value)),
            f"{c.integrated_gradients:+.4f}",
            f"{c.gradient_x_input:+.4f}",
        )
    return table


def _target_of(model: Model, frame: Frame) -> Any:
    """The row's target as the file holds it, or None (no target column, or the cell is empty)."""
    if not model.pre.has_target(frame):
        return None
    try:
        y, missing = model.pre.targets(frame)
    except DataError:  # a label the model does not know: the prediction can still be explained
        return None
    if missing.any():
        return None
    if model.head.task == "classification":
        return model.pre.classes[int(y[0])]
    return float(model.pre.target_values(y)[0])


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value:.6g}" if isinstance(value, float) else str(value)
