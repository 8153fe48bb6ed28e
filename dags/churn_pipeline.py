"""The demo ML pipeline: a churn classifier trained, evaluated and pushed, then used by a second DAG.

`churn_training`: ingest → validate → split → featurize → train (one mapped trial per L2 strength) → select →
evaluate → push if better. `churn_scoring` is scheduled on the pushed model Asset and scores a new batch of
customers with it, so MLMD lineage runs across the two DAGs through that one artifact.

Everything is pure Python (no numpy, no downloads): the data set is generated from a seed, so every run of the
same parameters produces the same bytes — which is what lets `@cached_step` reuse `split`, `featurize` and
`train` on the next run. Files live under `$AIRFLOW_HOME/data/churn`, and every file handed from one step to
the next is an Asset (`file://` URI), so the lineage shows both the files and the XComs that point at them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from mlmd_airflow import cached_step

DATA_DIR = Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser().resolve() / "data" / "churn"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age"]
L2_GRID = [0.0, 0.01, 0.1]  # one mapped `train` trial per value


def _asset(name: str, relpath: str) -> Asset:
    return Asset(name=f"churn_{name}", uri=f"file://{DATA_DIR / relpath}")


RAW = _asset("raw", "raw/customers.csv")
TRAIN_SPLIT = _asset("train_split", "split/train.csv")
TEST_SPLIT = _asset("test_split", "split/test.csv")
FEATURE_SET = _asset("features", "features/features.json")
MODEL = _asset("model", "serving/model.json")
PREDICTIONS = _asset("predictions", "scoring/predictions.csv")

START = pendulum.datetime(2025, 1, 1, tz="UTC")


# ------------------------------------------------------------------ plain helpers (keyed by @cached_step code_deps)


def generate_customers(n: int, seed: int) -> list[dict[str, float]]:
    """Synthetic customers whose churn follows a known logistic rule plus noise (features on very different
    scales, so featurization matters)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tenure, charges = rng.uniform(0, 72), rng.gauss(70, 25)
        calls, age = rng.randint(0, 9), rng.uniform(18, 80)
        z = -0.06 * tenure + 0.03 * charges + 0.45 * calls - 1.2 + rng.gauss(0, 0.8)
        rows.append({"tenure_months": round(tenure, 2), "monthly_charges": round(charges, 2),
                     "support_calls": calls, "age": round(age, 1), "churned": int(z > 0)})
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> str:
    """Writes rows and returns the file's sha256 (returned in XComs, so downstream keys follow the content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: str | Path) -> list[dict[str, float]]:
    with Path(path).open(newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def fit_logistic(xs: list[list[float]], ys: list[float], lr: float, l2: float, epochs: int) -> list[float]:
    """Batch gradient descent on the L2-regularized log loss; returns [bias, *weights]."""
    w = [0.0] * (len(xs[0]) + 1)
    n = len(xs)
    for _ in range(epochs):
        grad = [0.0] * len(w)
        for x, y in zip(xs, ys):
            err = sigmoid(w[0] + sum(wi * xi for wi, xi in zip(w[1:], x))) - y
            grad[0] += err
            for j, xj in enumerate(x, start=1):
                grad[j] += err * xj
        w = [wi - lr * (g / n + (l2 * wi if j else 0.0)) for j, (wi, g) in enumerate(zip(w, grad))]
    return w


def accuracy(w: list[float], xs: list[list[float]], ys: list[float]) -> float:
    hits = sum((sigmoid(w[0] + sum(wi * xi for wi, xi in zip(w[1:], x))) >= 0.5) == (y == 1) for x, y in zip(xs, ys))
    return round(hits / len(xs), 4)


def load_features(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


# ----------------------------------------------------------------------------------------------- training DAG


@dag(schedule=None, start_date=START, catchup=False, tags=["mlmd-demo"], render_template_as_native_obj=True,
     params={"n_customers": 2000, "seed": 7, "test_fraction": 0.25, "lr": 0.05, "epochs": 500,
             "mlmd_cache": {}})
def churn_training():
    """Train a churn classifier; `lr`, `epochs`, `n_customers`, ... can be changed per run through conf."""

    @task(outlets=[RAW])
    def ingest(n: int, seed: int) -> dict[str, Any]:
        """Not cached: the source step re-runs every time (new data would arrive here); its content hash keeps
        the downstream cache hits when the data did not change."""
        path = Path(RAW.uri.removeprefix("file://"))
        sha = write_csv(path, generate_customers(n, seed))
        return {"path": str(path), "rows": n, "sha256": sha}

    @task
    def validate(raw: dict[str, Any]) -> dict[str, Any]:
        """Cheap schema and sanity checks; a failure stops the run before anything is trained on bad data."""
        rows = read_csv(raw["path"])
        missing = set(FEATURES + ["churned"]) - set(rows[0])
        if missing or len(rows) != raw["rows"]:
            raise ValueError(f"bad raw data: missing columns {sorted(missing)} or {len(rows)} != {raw['rows']} rows")
        churn_rate = sum(r["churned"] for r in rows) / len(rows)
        if not 0.1 <= churn_rate <= 0.9:
            raise ValueError(f"implausible churn rate {churn_rate:.2f}")
        return {**raw, "churn_rate": round(churn_rate, 4)}

    @task(inlets=[RAW], outlets=[TRAIN_SPLIT, TEST_SPLIT])
    @cached_step(code_deps=[read_csv, write_csv])
    def split(raw: dict[str, Any], test_fraction: float, seed: int) -> dict[str, str]:
        """A seeded shuffle, so the same data and fraction always give the same split."""
        rows = read_csv(raw["path"])
        random.Random(seed).shuffle(rows)
        cut = int(len(rows) * (1 - test_fraction))
        train_path, test_path = (Path(a.uri.removeprefix("file://")) for a in (TRAIN_SPLIT, TEST_SPLIT))
        return {"train": str(train_path), "train_sha256": write_csv(train_path, rows[:cut]),
                "test": str(test_path), "test_sha256": write_csv(test_path, rows[cut:])}

    @task(outlets=[FEATURE_SET])
    @cached_step(code_deps=[read_csv])
    def featurize(splits: dict[str, str]) -> dict[str, str]:
        """Standardizes each feature with the training split's mean and deviation (never the test split's)."""
        train, test = read_csv(splits["train"]), read_csv(splits["test"])
        scaler = {}
        for f in FEATURES:
            values = [r[f] for r in train]
            mean = sum(values) / len(values)
            scaler[f] = (mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0)

        def matrix(rows: list[dict[str, float]]) -> dict[str, list]:
            return {"x": [[(r[f] - scaler[f][0]) / scaler[f][1] for f in FEATURES] for r in rows],
                    "y": [r["churned"] for r in rows]}

        path = Path(FEATURE_SET.uri.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"scaler": scaler, "train": matrix(train), "test": matrix(test)}))
        return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}

    @task
    @cached_step(code_deps=[fit_logistic, accuracy, load_features, sigmoid])
    def train(features: dict[str, str], lr: float, epochs: int, l2: float) -> dict[str, Any]:
        """The expensive step, one mapped trial per L2 strength; scored on a validation tail of the train split."""
        data = load_features(features["path"])["train"]
        cut = int(len(data["x"]) * 0.8)
        w = fit_logistic(data["x"][:cut], data["y"][:cut], lr=lr, l2=l2, epochs=epochs)
        path = DATA_DIR / "models" / f"lr{lr}_l2{l2}_e{epochs}_{features['sha256'][:8]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"weights": w, "lr": lr, "l2": l2, "epochs": epochs}))
        return {"path": str(path), "lr": lr, "l2": l2, "epochs": epochs,
                "val_accuracy": accuracy(w, data["x"][cut:], data["y"][cut:])}

    @task
    def select(trials: list[dict[str, Any]]) -> dict[str, Any]:
        """The trial with the best validation accuracy (ties: the stronger regularization)."""
        return max(trials, key=lambda t: (t["val_accuracy"], t["l2"]))

    @task
    def evaluate(best: dict[str, Any], features: dict[str, str]) -> dict[str, Any]:
        """Held-out test accuracy of the selected trial: the number `push` compares."""
        test = load_features(features["path"])["test"]
        w = json.loads(Path(best["path"]).read_text())["weights"]
        return {**best, "test_accuracy": accuracy(w, test["x"], test["y"])}

    @task(outlets=[MODEL])
    def push(evaluation: dict[str, Any], features: dict[str, str]) -> dict[str, Any]:
        """Serves the model only if it beats the one being served; otherwise skipped (no new model event)."""
        serving = Path(MODEL.uri.removeprefix("file://"))
        current = json.loads(serving.read_text())["test_accuracy"] if serving.exists() else -1.0
        if evaluation["test_accuracy"] <= current:
            raise AirflowSkipException(f"not better: {evaluation['test_accuracy']} <= {current} (served)")
        model = json.loads(Path(evaluation["path"]).read_text())
        serving.parent.mkdir(parents=True, exist_ok=True)
        scaler = load_features(features["path"])["scaler"]
        serving.write_text(json.dumps({**model, "scaler": scaler, "features": FEATURES,
                                       "test_accuracy": evaluation["test_accuracy"]}))
        return {"path": str(serving), "test_accuracy": evaluation["test_accuracy"], "previous": current}

    raw = validate(ingest(n="{{ params.n_customers }}", seed="{{ params.seed }}"))
    features = featurize(split(raw, test_fraction="{{ params.test_fraction }}", seed="{{ params.seed }}"))
    trials = train.partial(features=features, lr="{{ params.lr }}", epochs="{{ params.epochs }}").expand(l2=L2_GRID)
    push(evaluate(select(trials), features), features)


churn_training_dag = churn_training()


# ------------------------------------------------------------------------------------- consumer (cross-DAG)


@dag(schedule=[MODEL], start_date=START, catchup=False, tags=["mlmd-demo"], render_template_as_native_obj=True,
     params={"batch_size": 200, "seed": 2025})
def churn_scoring():
    """Runs whenever a new model is pushed: scores this week's customers with the served model."""

    @task
    def new_customers(batch_size: int, seed: int) -> dict[str, Any]:
        """This week's customers (generated: the demo needs no downloads)."""
        rows = generate_customers(batch_size, seed=seed)
        path = DATA_DIR / "scoring" / "batch.csv"
        return {"path": str(path), "sha256": write_csv(path, rows)}

    @task(inlets=[MODEL], outlets=[PREDICTIONS])
    def score(batch: dict[str, Any]) -> dict[str, Any]:
        """Reads the served model through its Asset (the INPUT event that links the two DAGs in MLMD)."""
        model = json.loads(Path(MODEL.uri.removeprefix("file://")).read_text())
        w, scaler = model["weights"], model["scaler"]
        out = []
        for r in read_csv(batch["path"]):
            x = [(r[f] - scaler[f][0]) / scaler[f][1] for f in model["features"]]
            out.append({**r, "churn_probability": round(sigmoid(w[0] + sum(a * b for a, b in zip(w[1:], x))), 4)})
        write_csv(Path(PREDICTIONS.uri.removeprefix("file://")), out)
        return {"scored": len(out), "at_risk": sum(r["churn_probability"] >= 0.5 for r in out),
                "model_test_accuracy": model["test_accuracy"]}

    score(new_customers(batch_size="{{ params.batch_size }}", seed="{{ params.seed }}"))


churn_scoring_dag = churn_scoring()
