"""backprop.sklearn on Dask: joblib's dask backend for a grid search, and
dask-ml's Incremental training over a Dask array through partial_fit."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("dask.distributed")
pytest.importorskip("dask_ml")

import dask.array as da
import joblib
from dask import distributed
from dask_ml.wrappers import Incremental
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from backprop.sklearn import MLPClassifier


def data(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, n_redundant=0, n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as local_client:
        yield local_client


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_with_the_dask_joblib_backend(client: distributed.Client) -> None:
    X, y = data()
    grid = {"hidden_layer_sizes": [(4,), (12,)], "learning_rate_init": [0.003, 0.03]}
    search = GridSearchCV(MLPClassifier(max_iter=40, random_state=0), grid, cv=3)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        search.fit(X, y)
    assert any("fit_and_score" in str(task["key"]) for task in tasks.data)  # the fits ran as cluster tasks
    # The same search on this process alone finds the same scores: Dask only ran it elsewhere.
    local = GridSearchCV(MLPClassifier(max_iter=40, random_state=0), grid, cv=3).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_ and search.best_score_ > 0.7


def test_incremental_partial_fit_over_a_dask_array(client: distributed.Client) -> None:
    X, y = data()
    X_dask = da.from_array(X, chunks=(60, 6))
    y_dask = da.from_array(y, chunks=60)
    model = MLPClassifier(hidden_layer_sizes=(12,), learning_rate_init=0.02, random_state=0)
    incremental = Incremental(model, scoring="accuracy", shuffle_blocks=False)
    for _ in range(15):  # each pass is one partial_fit per block of 60 rows
        incremental.partial_fit(X_dask, y_dask, classes=[0, 1, 2])
    fitted = incremental.estimator_
    assert fitted.t_ == 15 * 240 and len(fitted.loss_curve_) == 15 * 4
    assert fitted._optimizer.steps == 15 * 4  # one Adam state carried through every block
    assert incremental.score(X_dask, y_dask) > 0.75
    assert_array_equal(incremental.predict(X_dask).compute(), fitted.predict(X))
