"""The ``backprop`` command-line tool."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
import numpy as np
from rich.console import Console

from . import __version__
from .activations import ACTIVATIONS
from .errors import BackpropError
from .explain import Trace, explain, seed_example
from .gradcheck import gradcheck
from .layers import Dense
from .losses import LOSSES
from .network import Network

# Piped output is not cut to 80 columns: the explain tables need the room.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

SEED_CODE = (
    "numpy.random.seed(18); x = randn(3); y = random(); η = random(); W_ih = random((3, 2)); W_ho = random((2, 1))"
)


def _sizes(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        sizes = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated layer widths such as 3,4,1, got {value!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise click.BadParameter(f"need an input width and at least one layer, all >= 1, got {value!r}")
    return sizes


def _handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a BackpropError into a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BackpropError as exc:
            raise click.UsageError(str(exc)) from exc

    return wrapper


def _random_problem(
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


option_seed = click.option("--seed", default=0, show_default=True, help="Seed of the random network and data.")
option_sizes = click.option(
    "--sizes", default="3,4,2", show_default=True, callback=_sizes, help="Layer widths from input to output."
)
option_activation = click.option(
    "--activation",
    type=click.Choice(sorted(set(ACTIVATIONS) - {"softmax"})),
    default="sigmoid",
    show_default=True,
    help="Activation of the hidden layers.",
)
option_output = click.option(
    "--output", type=click.Choice(sorted(ACTIVATIONS)), default=None, help="Output activation [default: by loss]."
)
option_loss = click.option("--loss", type=click.Choice(sorted(LOSSES)), default="mse", show_default=True)
option_bias = click.option("--bias/--no-bias", default=True, show_default=True, help="Give every layer a bias.")

DEFAULT_OUTPUT = {"mse": "sigmoid", "binary_crossentropy": "sigmoid", "crossentropy": "softmax"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop")
def main() -> None:
    """backprop: multi-layer neural networks trained by backpropagation, on numpy."""


@main.command()
def demo() -> None:
    """Show the seed's worked example, every quantity of one step explained."""
    print_seed_example()


@main.command(name="explain")
@click.option("--example", type=click.Choice(["seed"]), default=None, help="A worked example instead of a random net.")
@option_sizes
@option_activation
@option_output
@option_loss
@option_bias
@click.option("--samples", default=1, show_default=True, type=click.IntRange(min=1), help="Samples in the batch.")
@click.option("--lr", "learning_rate", default=0.5, show_default=True, type=float, help="Learning rate η.")
@option_seed
@_handle_errors
def explain_command(
    example: str | None,
    sizes: list[int],
    activation: str,
    output: str | None,
    loss: str,
    bias: bool,
    samples: int,
    learning_rate: float,
    seed: int,
) -> None:
    """Show every quantity of one backpropagation step, layer by layer.

    With --example seed, the seed's 3-2-1 sigmoid network and its printed
    results; otherwise a random network of --sizes on a random batch.
    """
    if example == "seed":
        print_seed_example()
        return
    output = output or DEFAULT_OUTPUT[loss]
    net, X, y = _random_problem(sizes, activation, output, loss, samples, bias, seed)
    console.print(explain(net, X, y, learning_rate=learning_rate, loss=loss))


@main.command(name="gradcheck")
@click.option("--sizes", default="4,5,3", show_default=True, callback=_sizes, help="Layer widths from input to output.")
@option_activation
@option_output
@option_loss
@option_bias
@click.option("--samples", default=8, show_default=True, type=click.IntRange(min=1), help="Samples in the batch.")
@click.option("--tolerance", default=1e-6, show_default=True, type=float, help="Largest relative error that passes.")
@option_seed
@_handle_errors
def gradcheck_command(
    sizes: list[int],
    activation: str,
    output: str | None,
    loss: str,
    bias: bool,
    samples: int,
    tolerance: float,
    seed: int,
) -> None:
    """Compare backpropagation's gradient with finite differences on a random network.

    Exits with status 1 when the worst relative error exceeds --tolerance.
    """
    output = output or DEFAULT_OUTPUT[loss]
    net, X, y = _random_problem(sizes, activation, output, loss, samples, bias, seed)
    console.print(f"network {'-'.join(map(str, sizes))}, hidden {activation}, output {output}, {samples} samples")
    report = gradcheck(net, X, y, loss=loss, tolerance=tolerance)
    console.print(str(report))
    if not report.passed:
        raise SystemExit(1)


__all__ = ["main"]

# `backprop bench`: its options and code live in backprop.bench (torch and
# scikit-learn are imported only when it runs).
from .bench import command as _bench_command  # noqa: E402

main.add_command(_bench_command, name="bench")
