"""Kill training with SIGKILL at random moments; check nothing on disk is ever lost or torn.

A child process trains a small network, writing a checkpoint (``ModelCheckpoint``)
and a model file (``bp.save``) after every epoch, resuming from the checkpoint
when there is one. This script kills it at a random moment, checks that both
files load cleanly and that the checkpoint's epoch never goes backwards, and
starts it again, until the run completes; the final weights must equal,
bit for bit, those of an uninterrupted run. Then it starts over, until the
requested number of kills is reached.

    python scripts/kill_training.py --kills 50            # the full run (a few minutes)
    python scripts/kill_training.py --kills 5 --json out.json

Prints one line per kill and a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import backprop as bp

EPOCHS = 40

# The child: deterministic data, dropout, a cosine schedule and Adam, so that a
# resumed run must restore weights, optimizer moments, schedule and every
# random generator to finish bit for bit where an uninterrupted run does.
CHILD = f"""
import os, sys
import numpy as np
import backprop as bp

folder = sys.argv[1]
checkpoint = os.path.join(folder, "run.ckpt")
model = os.path.join(folder, "model.safetensors")
rng = np.random.default_rng(0)
X = rng.standard_normal((4000, 20)).astype(np.float32)
y = (X[:, :3] @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.int64) + (X[:, 3] > 1)


class SaveModel(bp.Callback):
    def on_train_begin(self, state):
        self.net = state.net

    def on_epoch_end(self, epoch, logs):
        bp.save(self.net, model, metadata={{"epoch": epoch}})
        return False

    def on_train_end(self, state):
        # Written again at the end: a run resumed after its last epoch trains none, and this
        # write is what removes the temporary file of a save killed after that epoch.
        bp.save(self.net, model, metadata={{"epoch": state.epoch}})


layers = [bp.Dense(64, "relu"), bp.Dropout(0.2), bp.Dense(64, "tanh"), bp.Dense(3, "softmax")]
net = bp.Network(layers, inputs=20, seed=0)
net.fit(
    X, y, loss="crossentropy", optimizer=bp.Adam(3e-3), epochs={EPOCHS}, batch_size=16, validation=0.1,
    schedule=bp.CosineDecay({EPOCHS}), seed=0, callbacks=[bp.ModelCheckpoint(checkpoint), SaveModel()],
    resume_from=checkpoint if os.path.exists(checkpoint) else None,
)
bp.save(net, os.path.join(folder, "final.safetensors"))
"""


def start(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def reference(folder: Path) -> tuple[np.ndarray, float]:
    """The final parameters of an uninterrupted run, and how long the run took."""
    began = time.perf_counter()
    child = start(folder)
    _, stderr = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"the reference run failed:\n{stderr.decode()[-2000:]}")
    return bp.load(folder / "final.safetensors").parameters, time.perf_counter() - began


def check_files(folder: Path, last_epoch: int) -> tuple[int, list[str]]:
    """Load what a kill left; return the checkpoint's epoch and the problems found."""
    problems: list[str] = []
    epoch = last_epoch
    if (folder / "run.ckpt").exists():
        try:
            _, state = bp.load_checkpoint(folder / "run.ckpt")
            epoch = int(state["epoch"])
            if epoch < last_epoch:
                problems.append(f"checkpoint went back from epoch {last_epoch} to {epoch}")
        except bp.BackpropError as exc:
            problems.append(f"checkpoint does not load: {exc}")
    if (folder / "model.safetensors").exists():
        try:
            bp.load(folder / "model.safetensors")
        except bp.BackpropError as exc:
            problems.append(f"model does not load: {exc}")
    return epoch, problems


def finish(child: subprocess.Popen[bytes], folder: Path, expected: np.ndarray) -> str | None:
    """Wait for a run to complete; the problem with it, if any."""
    _, stderr = child.communicate()
    if child.returncode != 0:
        return f"a resumed run failed: {stderr.decode()[-500:]}"
    if not np.array_equal(bp.load(folder / "final.safetensors").parameters, expected):
        return "the resumed run's final weights differ from the uninterrupted run's"
    return None


def run(kills: int, seed: int) -> dict[str, object]:
    chooser = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        expected, duration = reference(Path(scratch))
    survived = completed = strays = 0
    failures: list[str] = []
    while survived < kills:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            last_epoch = -1
            while True:
                child = start(folder)
                if survived < kills:
                    # Anywhere in a run: startup, training, the middle of a write.
                    time.sleep(chooser.uniform(0.0, duration))
                    if child.poll() is None:
                        os.kill(child.pid, signal.SIGKILL)
                        child.wait()
                        survived += 1
                        last_epoch, problems = check_files(folder, last_epoch)
                        failures.extend(f"kill {survived}: {problem}" for problem in problems)
                        print(f"kill {survived:3d}: checkpoint at epoch {last_epoch:3d}, {problems or 'ok'}")
                        continue
                # Completed before the kill, or the kill budget is spent: finish and compare.
                problem = finish(child, folder, expected)
                completed += 1
                print(f"run {completed} completed: {problem or 'the same weights as the uninterrupted run'}")
                if problem:
                    failures.append(f"run {completed}: {problem}")
                break
            # A write killed midway leaves a temporary file; a later write must remove it.
            left = sum(1 for path in folder.iterdir() if path.name.endswith(".tmp"))
            if left:
                failures.append(f"{left} temporary file(s) left after run {completed} completed")
            strays += left
    return {"kills": survived, "runs_completed": completed, "stray_temporary_files": strays, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = parser.parse_args()
    summary = run(args.kills, args.seed)
    print(json.dumps(summary, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(summary), encoding="utf-8")
    sys.exit(1 if summary["failures"] else 0)


if __name__ == "__main__":
    main()
