"""Shared test settings: in CI, hypothesis draws the same examples every run; stop signals are not ignored."""

import os
import signal
from collections.abc import Iterator

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def stop_signals_not_ignored() -> Iterator[None]:
    """SIGINT and SIGHUP as an interactive shell leaves them, for the tests that send them.

    A suite started in the background (``make test &``) or under ``nohup``
    inherits them ignored, and the CLI rightly keeps an ignored signal ignored:
    a test of Ctrl-C would then see training go on to the end.
    """
    ignored = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGHUP)}
    ignored = {sig: old for sig, old in ignored.items() if old is signal.SIG_IGN}
    for sig in ignored:
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    try:
        yield
    finally:
        for sig, old in ignored.items():
            signal.signal(sig, old)
