"""``python -m backprop``: the command-line tool."""

from .cli import main

main()
