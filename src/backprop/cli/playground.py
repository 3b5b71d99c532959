"""``backprop playground``: train a small network in the browser and see every number of backpropagation.

Serves :mod:`backprop.playground` on 127.0.0.1 (uvicorn), prints the URL and
opens it in the browser unless ``--no-browser``; Ctrl-C stops it. DATA is a
built-in planar set (xor, moons, circles, spirals) or a table whose numeric
columns are the inputs and whose target has 2 to 8 classes.

Imports click and, when it runs, the playground (starlette, uvicorn).
"""

from __future__ import annotations

import webbrowser

import click

from ._common import print_text, reports_errors

BUILT_IN = ("xor", "moons", "circles", "spirals")


@click.command(name="playground")
@click.argument("data", required=False, default="moons")
@click.option("--target", default=None, help="The target column of a table (2 to 8 classes) [default: the last].")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="The port on 127.0.0.1 (0: a free one).")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the data, the split, the weights and the shuffling.")  # fmt: skip
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
@reports_errors
def playground(data: str, target: str | None, port: int, seed: int, no_browser: bool) -> None:
    """Train a network in the browser: DATA is xor, moons, circles, spirals (default moons) or a table.

    \b
    Like TensorFlow Playground, with the exact numbers: click a neuron or an edge
    to see its z, a, f', δ and ΔW as `backprop explain` computes them.
    Serves on 127.0.0.1 only; Ctrl-C stops it.
    """
    # The web libraries are imported here: `backprop --help` does not need them.
    from ..playground import Config, Session, read_table
    from ..playground.app import listen, serve

    if data in BUILT_IN:
        session = Session(config=Config(dataset=data, seed=seed))
    else:
        session = Session(read_table(data, target), Config(dataset="table", seed=seed))
    try:
        sock = listen(port)
    except OSError as error:
        raise click.UsageError(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror or error}); try --port 0"
        ) from error
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    print_text(f"backprop playground on {url}   (Ctrl-C stops it)")
    if not no_browser:
        webbrowser.open(url)
    try:
        serve(session, sock)
    except KeyboardInterrupt:
        pass  # Ctrl-C: uvicorn has already closed the connections
    finally:
        sock.close()
    print_text("stopped")
