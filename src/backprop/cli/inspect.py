"""``backprop inspect``: describe a model file or checkpoint from its JSON document (:func:`backprop.io.inspect`).

Imports click, rich and the CLI's shared modules.
"""

from __future__ import annotations

import shlex

import click
from rich.table import Table

from .. import _terminal
from ..errors import ModelFileError
from ..tabular import Preprocessor
from ._common import console, one_line, option_json, print_json, print_line, reports_errors
from ._files import check_inputs


@click.command(name="inspect")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@option_json
@reports_errors
def inspect_command(model: str, as_json: bool) -> None:
    """Describe a model file or checkpoint without loading its tensors."""
    from ..io import inspect as inspect_file

    check_inputs(model)
    document = inspect_file(model)
    if as_json:
        print_json(document)
        return
    network = document["network"]
    layers = network["layers"]
    parts = []
    for layer in layers:
        if layer["type"] == "Dense":
            activation = layer["activation"]
            name = activation if isinstance(activation, str) else activation.get("name", "?")
            parts.append(f"Dense({layer['units']}, {name})")
        else:
            parts.append(f"Dropout({layer['rate']})")
    sizes = [network["inputs"], *(layer["units"] for layer in layers if layer["type"] == "Dense")]
    n_parameters = document["tensors"]["parameters"]["shape"][0]
    kind = "model" if document["format"] == "backprop-model" else "checkpoint"
    print_line(
        f"{model}: backprop {kind}, format version {document['format_version']}, written by backprop "
        f"{document['library_version']}"
    )
    print_line(
        f"network   {'-'.join(map(str, sizes))}: {', '.join(parts)}; {n_parameters:,} parameters ({network['dtype']})"
    )
    if kind == "checkpoint":
        state = document.get("state", {})
        optimizer = state.get("optimizer", {})
        print_line(
            f"training  epoch {int(state.get('epoch', -1)) + 1} of {state.get('epochs')}, seed {state.get('seed')}, "
            f"optimizer {optimizer.get('name')} lr {optimizer.get('lr')}"
        )
        cli_state = state.get("cli")
        if isinstance(cli_state, dict):
            print_line(f"data      {cli_state.get('data')}")
            print_line(
                f"resume    backprop train {shlex.quote(str(cli_state.get('data')))} --resume {shlex.quote(model)}"
            )
        return
    extra = document.get("extra", {})
    preprocessing = extra.get("preprocessing")
    if extra.get("loss"):
        print_line(f"loss      {extra['loss']}")
    if isinstance(preprocessing, dict):
        try:
            pre = Preprocessor.from_dict(preprocessing, where=model)
        except ModelFileError as exc:
            print_line(f"preprocessing: unreadable ({one_line(exc)})")
        else:
            _print_preprocessing(pre)
    training = extra.get("training")
    if isinstance(training, dict):
        print_line(
            f"training  {training.get('data')}: {training.get('train_rows')} rows, {training.get('epochs_run')} epochs"
            + (" (early stop)" if training.get("stopped_early") else "")
            + f", lr {training.get('learning_rate')}"
        )
    test = (extra.get("metrics") or {}).get("test") if isinstance(extra.get("metrics"), dict) else None
    if isinstance(test, dict):
        shown = "  ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "rows" and isinstance(v, int | float))
        print_line(f"test      {test.get('rows')} rows: {shown}")


def _print_preprocessing(pre: Preprocessor) -> None:
    """The target, the inputs and a table of the features (the first 50)."""
    target = pre.target
    if target.kind == "classes":
        print_line(
            f"target    {target.name!r}: {len(target.classes)} classes: " + ", ".join(map(str, target.classes[:20]))
        )
    else:
        print_line(f"target    {target.name!r}: numbers (mean {target.mean:.6g}, scale {target.scale:.6g})")
    print_line(
        f"inputs    {pre.n_inputs} from {len(pre.features)} columns; "
        f"standardize {'on' if pre.standardize else 'off'}, "
        f"impute {pre.impute or 'off'}"
    )
    table = Table(title="features", title_justify="left")
    for column in ("column", "kind", "mean", "scale", "categories", "fill"):
        table.add_column(column)
    for spec in pre.features[:50]:
        if spec.kind == "numeric":
            table.add_row(
                _terminal.text(spec.name),
                "numeric",
                f"{spec.mean:.6g}",
                f"{spec.scale:.6g}",
                "",
                _terminal.text(spec.fill or ""),
            )
        else:
            shown = ", ".join(spec.categories[:8]) + (", ..." if len(spec.categories) > 8 else "")
            table.add_row(
                _terminal.text(spec.name),
                "categorical",
                "",
                "",
                _terminal.text(shown),
                _terminal.text(spec.fill or ""),
            )
    console.print(table)
