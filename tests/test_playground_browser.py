"""The playground in a real browser: Playwright (Python, sync API) driving Debian's Chromium.

The real server (uvicorn, in a thread, on a free port) and the real page: press play
until moons reaches 95% test accuracy, add a layer, click a neuron, and check that the
δ the page shows is the one :func:`backprop.explain` computes for that state, at 1280
and 390 px wide. Screenshots go to the test's tmp folder.

Skipped when Playwright or a Chromium binary is missing, unless BACKPROP_REQUIRE_BROWSER=1
(CI), where that is a failure. Playwright's own browsers are never downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp

REQUIRED = os.environ.get("BACKPROP_REQUIRE_BROWSER") == "1"


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"BACKPROP_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


@pytest.fixture
def served() -> Iterator[tuple[str, Any]]:
    """The playground's server on 127.0.0.1 and a free port: (url, session)."""
    from backprop.playground import Session

    with serving(Session()) as served:
        yield served


@contextmanager
def serving(session: Any) -> Iterator[tuple[str, Any]]:
    """Serve ``session`` on 127.0.0.1 and a free port (uvicorn in a thread): (url, session)."""
    try:
        import uvicorn

        from backprop.playground.app import create_app, listen
    except ImportError:
        _missing("the playground extra is not installed (pip install 'backprop[playground]')")
    sock = listen(0)
    server = uvicorn.Server(uvicorn.Config(create_app(session), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 10 s"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/", session
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright; no browser download needed)")
    executable = _chromium()
    if executable is None:
        _missing("no Chromium binary (apt-get install chromium)")
    with sync_playwright() as playwright:
        # As root (a container), Chromium's sandbox cannot start.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield launched
        finally:
            launched.close()


def check_delta(page: Any, url: str, session: Any, *, layer: int, unit: int, epoch: int, sizes: list[int],
                folder: Path) -> None:  # fmt: skip
    """Click neuron ``unit`` of ``layer``: the δ shown must be explain's for the state the server offers."""
    from playwright.sync_api import expect

    page.locator(f'#network .neuron[data-layer="{layer}"][data-unit="{unit}"]').click()
    expect(page.locator("#selection h3").first).to_have_text(re.compile(rf"^Neuron {unit + 1} of layer {layer} "))
    expect(page.locator("#selection p").first).to_contain_text(f"(epoch {epoch})")
    cell = page.locator('#selection td.value[data-quantity="delta"]')
    shown, exact = cell.text_content(), float(cell.get_attribute("data-value") or "nan")
    # The same state, computed here: the model the page offers, explained on the same sample.
    model_file = folder / "model.safetensors"
    model_file.write_bytes(page.request.get(url + "download/model.safetensors").body())
    net = bp.load(model_file)
    assert net.sizes == sizes
    x, y = session.sample(5)
    delta = bp.explain(net, x, y, learning_rate=0.3, loss="mse").layers[layer - 1].error_term[0, unit]
    assert exact == delta  # to the last bit
    assert shown == np.array2string(np.asarray(delta), precision=8)


def play_until(page: Any, accuracy: float, seconds: float, what: str) -> None:
    """Press play until the page shows ``accuracy`` on the test points, pause, and wait for the play loop to end."""
    page.click("#play")
    # Python polls the page (the page's Content-Security-Policy forbids evaluating strings in it).
    deadline = time.monotonic() + seconds
    while float(page.get_attribute("#test-accuracy", "data-value") or 0) < accuracy:
        assert time.monotonic() < deadline, f"{what} did not reach {accuracy:.0%} test accuracy in {seconds} s of play"
        page.wait_for_timeout(100)
    page.click("#play")  # pause
    # The play loop has ended: the request in flight when paused has landed and is shown.
    page.wait_for_selector('#play[data-idle="true"]', state="attached")


@pytest.mark.parametrize("width", [1280, 390])
def test_train_moons_then_the_shown_delta_is_explains(
    served: tuple[str, Any], browser: Any, width: int, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, session = served
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(url)
        page.wait_for_selector("#network .neuron")
        # A fresh start on moons, as a user would: the dataset button, reset, a quicker learning rate.
        page.click('#datasets button[data-dataset="moons"]')
        page.click("#reset")
        expect(page.locator("#epoch")).to_have_text("0")
        page.select_option("#learning-rate", "0.3")

        play_until(page, 0.95, 45, "moons")
        expect(page.locator("#play")).to_have_attribute("aria-pressed", "false")
        epoch = page.text_content("#epoch")
        # The step in flight when paused may move the accuracy a little either way; what is shown
        # is the server's number, printed as it sends it, and the server's state.
        accuracy = float(page.get_attribute("#test-accuracy", "data-value") or "nan")
        assert page.text_content("#test-accuracy") == f"{100 * accuracy:.1f}%"
        assert accuracy == session.state()["test_accuracy"]
        assert int(page.text_content("#epoch") or "0") == session.epoch > 0

        # One step on sample 5: the whole trace; then neuron 2 of layer 2, checked against explain.
        page.fill("#sample", "5")
        page.dispatch_event("#sample", "change")
        page.click("#step")
        trained = int(epoch or "0") + 1
        expect(page.locator("#epoch")).to_have_text(str(trained))
        assert page.locator("#trace table").count() >= 4  # "one step" showed the whole trace
        check_delta(page, url, session, layer=2, unit=1, epoch=trained, sizes=[2, 4, 2, 1], folder=tmp_path)
        page.click("#gradcheck")
        page.wait_for_selector("#gradcheck-verdict")
        verdict = page.text_content("#gradcheck-verdict") or ""
        assert verdict.startswith("Passed: backprop.gradcheck on 8 training rows")
        page.screenshot(path=str(tmp_path / f"playground_{width}.png"), full_page=True)

        # Add a layer: the network is rebuilt with three hidden layers; one step trains it.
        page.click("#add-layer")
        page.wait_for_selector('#network .neuron[data-layer="4"]')
        page.click("#step")
        expect(page.locator("#epoch")).to_have_text("1")
        check_delta(page, url, session, layer=3, unit=0, epoch=1, sizes=[2, 4, 2, 2, 1], folder=tmp_path)
        page.screenshot(path=str(tmp_path / f"playground_{width}_deeper.png"), full_page=True)
        assert errors == []
    finally:
        page.close()


def _species_csv(path: Path) -> Path:
    """Three clouds of 50 rows, one a class; a class name with markup, which the page must show as text."""
    rng = np.random.default_rng(3)
    names = ("setosa", "versicolor", "<i>virginica</i>")
    centres = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    lines = ["petal_length,petal_width,sepal,species"]
    for i in range(150):
        a, b = centres[i % 3] + rng.normal(0.0, 0.5, size=2)
        lines.append(f"{a:.3f},{b:.3f},{rng.normal():.3f},{names[i % 3]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_three_class_table_trains_and_an_outputs_delta_is_explains(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from backprop.playground import Session, read_table

    session = Session(read_table(str(_species_csv(tmp_path / "species.csv"))))
    with serving(session) as (url, _):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        try:
            page.goto(url)
            page.wait_for_selector('#network .neuron[data-layer="3"][data-unit="2"]')  # three softmax outputs
            # The legend names the classes from the file as text: the markup in a name is not markup.
            classes = ["<i>virginica</i>", "setosa", "versicolor"]
            expect(page.locator("#class-legend .class")).to_have_text(classes)
            assert page.locator("#class-legend i").count() == 0
            # Each output neuron is named by its class (the full name in its title).
            titles = page.locator("#network text.class-name title").all_text_contents()
            assert titles == [f"p({name})" for name in classes]
            assert page.locator("#network i").count() == 0
            expect(page.locator("#loss option")).to_have_text(["crossentropy"])

            page.select_option("#learning-rate", "0.3")
            play_until(page, 0.9, 15, "the three classes")
            epoch = session.epoch
            expect(page.locator("#epoch")).to_have_text(str(epoch))
            assert float(page.get_attribute("#test-accuracy", "data-value") or 0) >= 0.9

            # Output neuron 2 (setosa's probability): its δ is explain's, the fused case δᵒ = y − ŷ.
            page.locator('#network .neuron[data-layer="3"][data-unit="1"]').click()
            expect(page.locator("#selection h3").first).to_have_text("Neuron 2 of layer 3 (output, softmax): p(setosa)")
            expect(page.locator("#selection p").first).to_contain_text(f"(epoch {epoch})")
            cell = page.locator('#selection td.value[data-quantity="delta"]')
            model_file = tmp_path / "model.safetensors"
            model_file.write_bytes(page.request.get(url + "download/model.safetensors").body())
            net = bp.load(model_file)
            assert net.sizes == [3, 4, 2, 3]
            x, y = session.sample(0)
            delta = bp.explain(net, x, y, learning_rate=0.3, loss="crossentropy").layers[-1].error_term[0, 1]
            assert float(cell.get_attribute("data-value") or "nan") == delta  # to the last bit
            assert cell.text_content() == np.array2string(np.asarray(delta), precision=8)
            formula = page.locator('#selection tr:has(td[data-quantity="delta"]) td.formula').text_content() or ""
            assert formula.startswith("δ[3] = y − ŷ   (softmax with crossentropy: f' cancels)")
            assert formula.endswith("(the seed: δᵒ = y − ŷ)")
            page.screenshot(path=str(tmp_path / "playground_3class.png"), full_page=True)
            assert errors == []
        finally:
            page.close()
