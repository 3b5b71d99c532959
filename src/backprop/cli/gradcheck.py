"""``backprop gradcheck``: backpropagation's gradient against finite differences on a random network.

Imports click and the CLI's shared modules.
"""

from __future__ import annotations

import click

from ..gradcheck import gradcheck
from ._common import (
    DEFAULT_OUTPUT,
    console,
    option_activation,
    option_bias,
    option_json,
    option_loss,
    option_output,
    option_seed,
    option_threads,
    parse_sizes,
    print_json,
    usage_errors,
)
from .explain import random_problem


@click.command(name="gradcheck")
@click.option(
    "--sizes", default="4,5,3", show_default=True, callback=parse_sizes, help="Layer widths from input to output."
)
@option_activation
@option_output
@option_loss
@option_bias
@click.option("--samples", default=8, show_default=True, type=click.IntRange(min=1), help="Samples in the batch.")
@click.option("--tolerance", default=1e-6, show_default=True, type=float, help="Largest relative error that passes.")
@option_seed
@option_threads("the BLAS's own setting")
@option_json
@usage_errors
def gradcheck_command(
    sizes: list[int],
    activation: str,
    output: str | None,
    loss: str,
    bias: bool,
    samples: int,
    tolerance: float,
    seed: int,
    as_json: bool,
) -> None:
    """Compare backpropagation's gradient with finite differences on a random network.

    Exits with status 1 when the worst relative error exceeds --tolerance.
    """
    output = output or DEFAULT_OUTPUT[loss]
    net, X, y = random_problem(sizes, activation, output, loss, samples, bias, seed)
    report = gradcheck(net, X, y, loss=loss, tolerance=tolerance)
    if as_json:
        print_json(
            {
                "network": sizes,
                "activation": activation,
                "output": output,
                "loss": loss,
                "samples": samples,
                "passed": report.passed,
                "tolerance": report.tolerance,
                "max_scaled_error": report.max_scaled_error,
                "max_rel_error": report.max_rel_error,
                "max_abs_error": report.max_abs_error,
                "checks": [
                    {
                        "array": c.label,
                        "shape": list(c.shape),
                        "max_abs_error": c.max_abs_error,
                        "max_rel_error": c.max_rel_error,
                        "max_scaled_error": c.max_scaled_error,
                        "worst_index": list(c.worst_index),
                    }
                    for c in report.checks
                ],
            }
        )
    else:
        console.print(f"network {'-'.join(map(str, sizes))}, hidden {activation}, output {output}, {samples} samples")
        console.print(str(report), markup=False)
    if not report.passed:
        raise SystemExit(1)
