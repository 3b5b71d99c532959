"""Training and predicting from a numpy.memmap larger than the process may allocate."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

resource = pytest.importorskip("resource")

ROWS, FEATURES = 65536, 1024  # 256 MiB of float32: twice what the child may allocate

CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import backprop as bp

    path, rows, features = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, features))
    y = (np.asarray(X[:, 0]) > 0).astype(np.int64)  # one column: 256 KiB
    net = bp.Network([bp.Dense(16, "relu"), bp.Dense(2, "softmax")], inputs=features, seed=0)
    # One tiny step first: with the `fast` extra it loads the compiled optimizer
    # step (numba, which imports scipy, whose OpenBLAS stalls when started under
    # RLIMIT_DATA), a fixed cost unrelated to the data.
    warm = bp.Network([bp.Dense(2, "softmax")], inputs=1, seed=0)
    warm.fit(np.zeros((2, 1)), [0, 1], loss="crossentropy", optimizer=bp.Adam(1e-3), epochs=1)

    # From here on the heap may grow by 128 MiB at most: half the data.
    with open("/proc/self/status") as status:
        data_kib = next(int(line.split()[1]) for line in status if line.startswith("VmData"))
    limit = (data_kib << 10) + (128 << 20)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    try:
        np.array(X)  # the control: a whole copy must not fit
    except MemoryError:
        print("copy refused")

    history = net.fit(X, y, loss="crossentropy", optimizer=bp.Adam(1e-3), epochs=1, batch_size=256,
                      validation=0.1, seed=0)
    predictions = net.predict(X)
    print("trained", len(history), predictions.shape, bool(np.isfinite(predictions).all()))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc are Linux")
def test_fit_and_predict_stream_a_memmap_larger_than_the_allocation_limit(tmp_path):
    path = tmp_path / "X.f32"
    data = np.memmap(path, dtype=np.float32, mode="w+", shape=(ROWS, FEATURES))
    rng = np.random.default_rng(0)
    for start in range(0, ROWS, 8192):
        data[start : start + 8192] = rng.standard_normal((8192, FEATURES), dtype=np.float32)
    data.flush()
    del data
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(ROWS), str(FEATURES)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "copy refused" in result.stdout  # the limit is real
    assert f"trained 1 ({ROWS}, 2) True" in result.stdout
