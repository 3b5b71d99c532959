"""``python -m backprop.bench [OPTIONS]``."""

from . import main

main()
