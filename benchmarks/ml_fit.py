"""Fit time of every shendu.ml estimator against scikit-learn's, on the bundled data sets.

    python -m benchmarks.ml_fit                        # every estimator, 3 rounds
    python -m benchmarks.ml_fit --only KMeans PCA      # some of them (shendu.ml class names, or a
                                                       # variant's key such as LinearSVC-hinge)
    python -m benchmarks.ml_fit --rounds 5 --json ml.json --markdown

Every round starts one child process per library (scikit-learn, then shendu: A B A B ...), each
with one BLAS/OpenMP thread (both libraries are single-threaded C/NumPy here; scikit-learn's
k-means would otherwise use OpenMP threads). A child loads the data sets, then times each
(estimator, data set) pair's ``fit`` (k-NN: ``fit`` + ``predict`` of the test part, since its fit only
stores the data), repeating it until 0.3 s have passed (at least once, at most 20 times), and
reports the median. The table gives each library's median over the rounds and the ratio
shendu / scikit-learn (below 1: shendu is faster). Inputs: a fixed 70/30 split, features
standardised on the training part (raw pixel counts for MultinomialNB), float64.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

# shendu.ml class -> (scikit-learn class, kwargs for both, data sets); kwargs chosen so both solve the same problem
ESTIMATORS = {
    "LinearRegression": ("linear_model.LinearRegression", {}, ("diabetes",)),
    "Ridge": ("linear_model.Ridge", {"alpha": 1.0}, ("diabetes",)),
    "Lasso": ("linear_model.Lasso", {"alpha": 0.1}, ("diabetes",)),
    "LogisticRegression": ("linear_model.LogisticRegression", {"max_iter": 500},
                           ("iris", "breast_cancer", "digits")),
    "SoftmaxRegression": ("linear_model.LogisticRegression", {}, ("iris", "digits")),
    "GaussianNB": ("naive_bayes.GaussianNB", {}, ("iris", "digits")),
    "MultinomialNB": ("naive_bayes.MultinomialNB", {}, ("digits",)),
    "KNeighborsClassifier": ("neighbors.KNeighborsClassifier", {"n_neighbors": 5}, ("iris", "digits")),
    "LinearSVC": ("svm.LinearSVC", {}, ("iris", "breast_cancer", "digits")),
    "LinearSVC-hinge": ("svm.LinearSVC", {"loss": "hinge"}, ("iris", "breast_cancer", "digits")),
    "SVC": ("svm.SVC", {"kernel": "rbf"}, ("iris", "breast_cancer", "digits")),
    "BayesianLinearRegression": ("linear_model.BayesianRidge", {}, ("diabetes",)),
    "DecisionTreeClassifier": ("tree.DecisionTreeClassifier", {"random_state": 0},
                               ("iris", "wine", "breast_cancer", "digits")),
    "DecisionTreeRegressor": ("tree.DecisionTreeRegressor", {"random_state": 0}, ("diabetes",)),
    "RandomForestClassifier": ("ensemble.RandomForestClassifier", {"n_estimators": 100, "random_state": 0},
                               ("iris", "breast_cancer", "digits")),
    "BaggingClassifier": ("ensemble.BaggingClassifier", {"n_estimators": 10, "random_state": 0},
                          ("iris", "breast_cancer", "digits")),
    "KMeans": ("cluster.KMeans", {"n_clusters": 10, "n_init": 1, "random_state": 0}, ("iris", "digits")),
    "GaussianMixture": ("mixture.GaussianMixture", {"n_components": 3, "random_state": 0}, ("iris", "wine")),
    "PCA": ("decomposition.PCA", {"n_components": 10}, ("digits", "breast_cancer")),
}
SETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
NOTE = {"SoftmaxRegression": "vs multinomial LogisticRegression",
        "BayesianLinearRegression": "vs BayesianRidge (the same evidence maximisation, a different iteration)",
        "KNeighborsClassifier": "fit + predict",
        "LinearSVC-hinge": "loss='hinge'"}


def _class(name: str) -> str:
    """The shendu.ml class of a table key ("LinearSVC-hinge" is LinearSVC with other settings)."""
    return name.split("-")[0]


def _data() -> dict:
    import numpy as np
    from sklearn import datasets
    out = {}
    for name in SETS:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        idx = np.random.RandomState(0).permutation(len(y))
        tr, te = idx[:int(0.7 * len(y))], idx[int(0.7 * len(y)):]
        mean, std = X[tr].mean(0), X[tr].std(0)
        std[std == 0] = 1.0
        out[name] = ((X[tr] - mean) / std, y[tr], (X[te] - mean) / std, X[tr], X[te])
    return out


def _make(library: str, name: str):
    path, kwargs, _ = ESTIMATORS[name]
    if library == "sklearn":
        module, cls = path.rsplit(".", 1)
        return getattr(importlib.import_module("sklearn." + module), cls)(**kwargs)
    import shendu.ml
    return getattr(shendu.ml, _class(name))(**kwargs)


def child(library: str, names: list[str]) -> dict:
    """Median fit seconds of every (estimator, data set) pair in this process."""
    import warnings
    warnings.simplefilter("ignore")
    data = _data()
    out = {}
    for name in names:
        if library == "shendu":
            import shendu.ml
            if not hasattr(shendu.ml, _class(name)):
                continue
        for ds in ESTIMATORS[name][2]:
            X, y, X_test, X_raw, _ = data[ds]
            if name == "MultinomialNB":
                X = X_raw
            times = []
            start = time.perf_counter()
            while not times or (time.perf_counter() - start < 0.3 and len(times) < 20):
                est = _make(library, name)
                t0 = time.perf_counter()
                if name in ("KMeans", "GaussianMixture", "PCA"):
                    est.fit(X)
                else:
                    est.fit(X, y)
                    if name == "KNeighborsClassifier":
                        est.predict(X_test)
                times.append(time.perf_counter() - t0)
            out[f"{name}|{ds}"] = statistics.median(times)
    return out


def _run_child(library: str, names: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               SHENDU_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.ml_fit", "--child", library, "--only", *names],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: dict) -> str:
    rows = ["| estimator | data set | shendu ms | scikit-learn ms | ratio | note |", "|---|---|---:|---:|---:|---|"]
    for key in results["sklearn"]:
        if key not in results["shendu"]:
            continue
        name, ds = key.split("|")
        ours, ref = statistics.median(results["shendu"][key]), statistics.median(results["sklearn"][key])
        ratio = ours / ref
        mark = f"**{ratio:.2f}**" if ratio > 3 else f"{ratio:.2f}"
        rows.append(f"| {name} | {ds} | {ours * 1e3:.2f} | {ref * 1e3:.2f} | {mark} | {NOTE.get(name, '')} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None,
                        help=f"rows to time (default: all): {' '.join(ESTIMATORS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None, help="write every round's figures here")
    parser.add_argument("--markdown", action="store_true", help="print the table only")
    parser.add_argument("--child", choices=("shendu", "sklearn"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.only or list(ESTIMATORS)
    unknown = sorted(set(names) - set(ESTIMATORS))
    if unknown:
        parser.error(f"unknown estimators {unknown}; choose from {sorted(ESTIMATORS)}")
    if args.child:
        print(json.dumps(child(args.child, names)))
        return 0
    results: dict = {"sklearn": {}, "shendu": {}}
    for r in range(args.rounds):
        for library in ("sklearn", "shendu"):
            for key, seconds in _run_child(library, names).items():
                results[library].setdefault(key, []).append(seconds)
        if not args.markdown:
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
