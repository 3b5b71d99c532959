"""`backprop bench --tabular`: the JSON's structure, the ranks, and missing tables reported, not failed.

A schema and arithmetic test, not a score test: `--quick` scores mean nothing.
"""

import json

import pytest
from click.testing import CliRunner

from backprop.bench import tabular_runners
from backprop.bench.tabular_runners import CONTENDERS, rank_scores, summarize, train_overrides
from backprop.cli import main

ENTRY_KEYS = {"status", "reason", "scores", "score", "score_std", "fit_seconds", "seconds", "iterations", "options",
              "rank"}  # fmt: skip
TABLE_KEYS = {"status", "reason", "source", "task", "metric", "target", "rows", "features", "text_columns",
              "ignored", "missing_cells", "classes", "contenders"}  # fmt: skip


def entry(score):
    return {"status": "ok", "reason": None, "score": score, "rank": None}


def test_ranks_share_ties_and_the_best_is_one():
    assert rank_scores({"a": 0.9, "b": 0.95, "c": 0.9}) == {"a": 2.5, "b": 1.0, "c": 2.5}
    assert rank_scores({"a": 0.1, "b": 0.2, "c": 0.3}) == {"a": 3.0, "b": 2.0, "c": 1.0}
    assert rank_scores({"a": 0.5, "b": 0.5, "c": 0.5}) == {"a": 2.0, "b": 2.0, "c": 2.0}


def test_summary_ranks_the_tables_every_contender_scored():
    tables = {
        # backprop 0.90 (2), mlp 0.80 (3), hgb 0.95 (1); gaps -0.05, -0.15, 0
        "t1": {"status": "ok", "contenders": {"backprop": entry(0.90), "sklearn-mlp": entry(0.80),
                                              "sklearn-hgb": entry(0.95)}},
        # backprop 0.60 (1), mlp 0.50 (2.5), hgb 0.50 (2.5); gaps +0.10, 0, 0
        "t2": {"status": "ok", "contenders": {"backprop": entry(0.60), "sklearn-mlp": entry(0.50),
                                              "sklearn-hgb": entry(0.50)}},
        # the MLP failed here: not ranked, so no contender's mean counts it
        "t3": {"status": "ok", "contenders": {"backprop": entry(0.10), "sklearn-mlp": entry(None),
                                              "sklearn-hgb": entry(0.99)}},
        "t4": {"status": "missing", "contenders": {c: entry(None) for c in CONTENDERS}},
    }  # fmt: skip
    summary = summarize(tables)
    assert summary["tables_ranked"] == ["t1", "t2"]
    assert summary["mean_rank"] == {"backprop": 1.5, "sklearn-mlp": 2.75, "sklearn-hgb": 1.75}
    assert summary["mean_gap"]["backprop"] == pytest.approx(0.025)  # (-0.05 + 0.10) / 2
    assert summary["mean_gap"]["sklearn-mlp"] == pytest.approx(-0.075)  # (-0.15 + 0) / 2
    assert summary["mean_gap"]["sklearn-hgb"] == 0.0
    assert summary["wins"] == {"backprop": 1, "sklearn-mlp": 0, "sklearn-hgb": 1}
    assert tables["t1"]["contenders"]["sklearn-mlp"]["rank"] == 3.0
    assert tables["t3"]["contenders"]["backprop"]["rank"] is None


def test_summary_of_no_ranked_table_has_no_means():
    summary = summarize({"t": {"status": "missing", "contenders": {}}})
    assert summary["tables_ranked"] == []
    assert summary["mean_rank"] == dict.fromkeys(CONTENDERS)
    assert summary["mean_gap"] == dict.fromkeys(CONTENDERS)


def test_a_missing_table_is_reported_not_failed(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    spec = tabular_runners.TableSpec("nowhere.load_it", "backprop_no_such_package", "y", "classification")
    monkeypatch.setitem(tabular_runners.TABLES, "absent", spec)
    table = tabular_runners.run_table("absent", [0], True, tmp_path, lambda _m: None)
    assert table["status"] == "missing"
    assert "pip install backprop-no-such-package" in table["reason"]
    assert {e["status"] for e in table["contenders"].values()} == {"missing"}
    results = {"tables": {"absent": table}}
    assert not tabular_runners.tabular_has_errors(results)


def test_quick_suite_json(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")
    path = tmp_path / "tabular.json"
    result = CliRunner().invoke(main, ["bench", "--tabular", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "mean gap to sklearn-hgb" in result.output
    results = json.loads(path.read_text())
    assert results["mode"] == "tabular" and results["quick"] is True
    assert results["seeds"] == [0] and results["test_size"] == 0.2
    assert list(results["tables"]) == ["iris", "diabetes"]
    for name, table in results["tables"].items():
        assert set(table) == TABLE_KEYS, name
        assert table["status"] == "ok"
        assert list(table["contenders"]) == list(CONTENDERS)
        for contender, found in table["contenders"].items():
            assert set(found) == ENTRY_KEYS, contender
            assert found["status"] == "ok", found["reason"]
            assert len(found["scores"]) == len(found["fit_seconds"]) == 1
            assert 1 <= found["iterations"][0] <= tabular_runners.QUICK_ITERATIONS
            assert found["score"] == found["scores"][0]
            assert found["seconds"] > 0
            assert found["rank"] in (1.0, 1.5, 2.0, 2.5, 3.0)
    assert results["tables"]["iris"]["metric"] == "accuracy"
    assert 0 <= results["tables"]["iris"]["contenders"]["backprop"]["score"] <= 1
    assert results["tables"]["diabetes"]["metric"] == "r2"
    summary = results["summary"]
    assert summary["tables_ranked"] == ["iris", "diabetes"]
    assert sum(summary["mean_rank"].values()) == pytest.approx(6.0)  # ranks 1 + 2 + 3 on each table
    assert summary["mean_gap"]["sklearn-hgb"] == 0.0


def test_train_overrides_read_as_the_command_line_spells_them():
    assert train_overrides(["hidden=256,128", "epochs=100", "early_stopping=off", "l2=1e-4", "batch-size=64"]) == {
        "hidden": [256, 128],
        "epochs": 100,
        "early_stopping": None,
        "l2": 0.0001,
        "batch_size": 64,
    }
    assert train_overrides(["early_stopping=auto", "early_stopping=20"]) == {"early_stopping": 20}  # the last wins
    with pytest.raises(ValueError, match=r"'width=3' is not KEY=VALUE with KEY one of hidden, "):
        train_overrides(["width=3"])
    with pytest.raises(ValueError, match=r"'epochs' is not KEY=VALUE"):
        train_overrides(["epochs"])
    with pytest.raises(ValueError, match=r"'hidden=8,x': '8,x' is not a value for hidden"):
        train_overrides(["hidden=8,x"])


def test_tabular_train_changes_backprops_options_on_the_same_splits(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")
    path = tmp_path / "tabular.json"
    args = ["bench", "--tabular", "--quick", "--tabular-table", "iris", "--json", str(path)]
    result = CliRunner().invoke(main, [*args, "--tabular-train", "epochs=3", "--tabular-train", "early_stopping=off"])
    assert result.exit_code == 0, result.output
    results = json.loads(path.read_text())
    assert results["train_options"] == {"epochs": 3, "early_stopping": None}
    assert "--epochs 3 --early-stopping off" in results["contenders"]["backprop"]
    assert "--epochs 3 --early-stopping off" in result.output
    assert results["tables"]["iris"]["contenders"]["backprop"]["iterations"] == [3]  # not --quick's epochs
    result = CliRunner().invoke(main, [*args, "--tabular-train", "epochs=many"])
    assert result.exit_code == 2
    assert "'epochs=many': 'many' is not a value for epochs" in result.output


def test_tabular_options_need_the_mode():
    result = CliRunner().invoke(main, ["bench", "--tabular-seeds", "2"])
    assert result.exit_code == 2
    assert "give --tabular too" in result.output
    result = CliRunner().invoke(main, ["bench", "--tabular", "--data"])
    assert result.exit_code == 2
    assert "--tabular is a mode of its own" in result.output


def test_a_table_that_fails_to_read_is_an_error_of_its_own(tmp_path, monkeypatch):
    def broken(name):
        raise KeyError("column renamed")

    monkeypatch.setattr(tabular_runners, "load_table", broken)
    table = tabular_runners.run_table("iris", [0], True, tmp_path, lambda _m: None)
    assert table["status"] == "error"
    assert table["reason"] == "reading it: KeyError: 'column renamed'"
    assert tabular_runners.tabular_has_errors({"tables": {"iris": table}})
