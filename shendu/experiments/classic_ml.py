"""The classic classifiers of shendu.ml side by side: decision boundaries on toy data, accuracy tables.

Every classifier in ``shendu.ml`` (linear and softmax regression, naive Bayes, k-nearest
neighbours, linear and kernel SVMs, a decision tree, a random forest, bagging) is fitted to three
2-D toy sets (two moons, concentric circles, three blobs) and its decision regions drawn; then
each is trained on the bundled iris, wine, breast-cancer and digits sets (a fixed stratified
70/30 split, features standardised on the training part) beside scikit-learn's estimator of the
same name and a small MLP trained with shendu's autograd and Adam.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import shendu as sd
import shendu.ml as ml
from shendu.data.datasets.sklearn_sets import load_breast_cancer, load_digits, load_iris, load_wine
from shendu.data.datasets.toy import gaussian_blobs, two_moons
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, save
from shendu.threads import own_blas

# name -> (shendu.ml class name, constructor kwargs, scikit-learn module.class or None); those M1/M2 have
# not built are skipped (the experiment lists what exists)
CLASSIFIERS = {
    "logistic": ("LogisticRegression", {"max_iter": 500}, "linear_model.LogisticRegression"),
    "softmax": ("SoftmaxRegression", {}, None),
    "gaussian NB": ("GaussianNB", {}, "naive_bayes.GaussianNB"),
    "5-NN": ("KNeighborsClassifier", {"n_neighbors": 5}, "neighbors.KNeighborsClassifier"),
    "linear SVM": ("LinearSVC", {}, "svm.LinearSVC"),
    "RBF SVM": ("SVC", {"kernel": "rbf", "C": 1.0}, "svm.SVC"),
    "tree": ("DecisionTreeClassifier", {"max_depth": 6, "random_state": 0}, "tree.DecisionTreeClassifier"),
    "random forest": ("RandomForestClassifier", {"n_estimators": 50, "random_state": 0},
                      "ensemble.RandomForestClassifier"),
    "bagging": ("BaggingClassifier", {"n_estimators": 10, "random_state": 0}, "ensemble.BaggingClassifier"),
}
BUNDLED = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer, "digits": load_digits}
QUICK_BUNDLED = ("iris", "wine")  # --quick: the two small sets only


def available() -> dict[str, tuple]:
    """The CLASSIFIERS entries whose shendu.ml class exists."""
    return {name: entry for name, entry in CLASSIFIERS.items() if hasattr(ml, entry[0])}


def make(name: str, quick: bool = False):
    cls, kwargs, _ = CLASSIFIERS[name]
    kwargs = dict(kwargs)
    if quick and "n_estimators" in kwargs:
        kwargs["n_estimators"] = min(kwargs["n_estimators"], 20)
    return getattr(ml, cls)(**kwargs)


def make_sklearn(name: str, quick: bool = False):
    path = CLASSIFIERS[name][2]
    if path is None:
        return None
    import importlib
    module, cls = path.rsplit(".", 1)
    kwargs = dict(CLASSIFIERS[name][1])
    if quick and "n_estimators" in kwargs:
        kwargs["n_estimators"] = min(kwargs["n_estimators"], 20)
    return getattr(importlib.import_module("sklearn." + module), cls)(**kwargs)


def circles(n: int, seed: int, noise: float = 0.1, factor: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric rings (radius 1 and ``factor``) with Gaussian noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = rng.uniform(0, 2 * np.pi, n)
    r = np.where(y == 0, 1.0, factor)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1) + rng.normal(0, noise, (n, 2)), y


def toy_sets(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    moons = two_moons(200, noise=0.2, seed=seed)
    blobs = gaussian_blobs(200, centers=np.array([[-2.0, -1.0], [2.0, -1.0], [0.0, 2.0]]), std=1.0, seed=seed)
    return {"moons": tuple(a.numpy().astype(np.float64) for a in moons),
            "circles": circles(200, seed),
            "blobs": tuple(a.numpy().astype(np.float64) for a in blobs)}


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with each class split in the same proportion."""
    rng = np.random.RandomState(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:int(round(test_fraction * (y == c).sum()))]
                           for c in np.unique(y)])
    mask = np.zeros(len(y), bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def train_mlp(X: np.ndarray, y: np.ndarray, seed: int, epochs: int, hidden: int = 64):
    """A one-hidden-layer ReLU MLP trained full-batch with Adam on the cross-entropy; returns predict(X)."""
    sd.manual_seed(seed)
    k = int(y.max()) + 1
    model = sd.nn.Sequential(sd.nn.Linear(X.shape[1], hidden), sd.nn.ReLU(), sd.nn.Linear(hidden, k))
    opt = sd.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    Xt, yt = sd.tensor(X.astype(np.float32)), sd.tensor(y.astype(np.int64))
    for _ in range(epochs):
        opt.zero_grad()
        loss = sd.nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        opt.step()

    def predict(Z: np.ndarray) -> np.ndarray:
        with sd.no_grad():
            return model(sd.tensor(Z.astype(np.float32))).numpy().argmax(1)
    return predict


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    own_blas()  # BLAS at one thread, shendu's policy: multithreaded OpenBLAS crawls on a loaded machine
    names = list(available())
    stage = stages(progress, "classic-ml", 3)
    out = Path(out)
    results: dict = {"seed": seed, "classifiers": names, "toy": {}, "accuracy": {}, "sklearn_accuracy": {}}
    epochs = 150 if quick else 400

    stage("decision regions on moons, circles and blobs")
    toys = toy_sets(seed)
    cols = names + ["MLP (shendu)"]
    fig, axes = figure(len(toys), len(cols), figsize=(2.1 * len(cols), 2.2 * len(toys)), squeeze=False,
                       title="Decision regions of each classifier (training points shown; test accuracy in the corner)")
    steps = 60 if quick else 160
    for row, (toy, (X, y)) in enumerate(toys.items()):
        X = (X - X.mean(0)) / X.std(0)
        tr, te = stratified_split(y, 0.3, seed)
        lo, hi = X.min(0) - 0.5, X.max(0) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
        grid = np.stack([gx.ravel(), gy.ravel()], 1)
        results["toy"][toy] = {}
        for col, name in enumerate(cols):
            if name == "MLP (shendu)":
                predict = train_mlp(X[tr], y[tr], seed, epochs)
            else:
                predict = make(name, quick).fit(X[tr], y[tr]).predict
            acc = float(np.mean(np.asarray(predict(X[te])) == y[te]))
            results["toy"][toy][name] = acc
            ax = axes[row, col]
            ax.contourf(gx, gy, np.asarray(predict(grid)).reshape(gx.shape), levels=np.arange(-0.5, y.max() + 1),
                        cmap="coolwarm" if y.max() == 1 else "viridis", alpha=0.35)
            ax.scatter(X[tr, 0], X[tr, 1], c=y[tr], s=6, cmap="coolwarm" if y.max() == 1 else "viridis",
                       edgecolors="k", linewidths=0.2)
            ax.text(0.97, 0.03, f"{acc:.2f}", transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
                    bbox={"fc": "white", "alpha": 0.8, "lw": 0})
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
            if col == 0:
                ax.set_ylabel(toy)
    save(fig, out / "decision_regions.png")

    stage("accuracy on the bundled sets against scikit-learn and an MLP")
    for data, load in BUNDLED.items():
        if quick and data not in QUICK_BUNDLED:
            continue
        X_t, y_t = load()
        X, y = X_t.numpy().astype(np.float64), y_t.numpy().astype(np.int64)
        tr, te = stratified_split(y, 0.3, seed)
        mean, std = X[tr].mean(0), X[tr].std(0)
        std[std == 0] = 1.0
        X = (X - mean) / std
        results["accuracy"][data], results["sklearn_accuracy"][data] = {}, {}
        for name in names:
            results["accuracy"][data][name] = float(make(name, quick).fit(X[tr], y[tr]).score(X[te], y[te]))
            ref = make_sklearn(name, quick)
            if ref is not None:
                results["sklearn_accuracy"][data][name] = float(ref.fit(X[tr], y[tr]).score(X[te], y[te]))
        predict = train_mlp(X[tr], y[tr], seed, epochs)
        results["accuracy"][data]["MLP (shendu)"] = float(np.mean(predict(X[te]) == y[te]))
    gaps = [abs(results["accuracy"][d][n] - v) for d, row in results["sklearn_accuracy"].items()
            for n, v in row.items()]
    results["max_gap_to_sklearn"] = float(max(gaps)) if gaps else None

    stage("writing the report")
    _write_report(out, results, quick)
    stage.close()
    return results


LINEAR = ("logistic", "softmax", "linear SVM")


def _linear_on_circles(r: dict) -> str:
    accs = {n: r["toy"]["circles"][n] for n in LINEAR if n in r["toy"]["circles"]}
    if not accs:
        return "(no linear model present)"
    return ", ".join(f"{acc:.2f} ({n})" for n, acc in accs.items()) + " against 0.5 for guessing"


def _write_report(out: Path, r: dict, quick: bool) -> None:
    cols = r["classifiers"] + ["MLP (shendu)"]
    lines = ["# Classic classifiers", "",
             f"**Settings.** The shendu.ml classifiers present ({', '.join(r['classifiers'])}) with their default "
             "settings except: logistic regression max_iter 500, tree depth "
             f"≤ 6, random forest {20 if quick else 50} trees, bagging 10 trees; an MLP (one hidden layer of 64 "
             f"ReLU units, Adam lr 1e-2, weight decay 1e-4, full batch, {150 if quick else 400} steps) trained with "
             f"shendu. Stratified 70/30 splits, features standardised on the training part. Seed {r['seed']}."
             + (" A --quick run: iris and wine only." if quick else ""), "",
             "## Decision regions", "", "![regions](decision_regions.png)", "",
             "*Figure 1.* Each classifier's predicted class over the plane for two moons, two concentric circles "
             "and three blobs (training points shown; the corner number is the test accuracy). The linear models "
             f"draw straight boundaries, so on the circles they score {_linear_on_circles(r)}; naive Bayes draws "
             "quadratic ones; k-NN, the RBF SVM and the MLP follow the curved classes; trees and forests cut the "
             "plane into axis-parallel boxes.", "",
             "| toy set | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|",
             *(f"| {t} | " + " | ".join(f"{acc[c]:.3f}" for c in cols) + " |" for t, acc in r["toy"].items()), "",
             "## Accuracy on the bundled sets (test part)", "",
             "| data | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for data, acc in r["accuracy"].items():
        lines.append(f"| {data} | " + " | ".join(f"{acc[c]:.3f}" for c in cols) + " |")
    lines += ["", "scikit-learn's estimator of the same name with the same settings, same split:", "",
              "| data | " + " | ".join(r["classifiers"]) + " |", "|---" * (len(r["classifiers"]) + 1) + "|"]
    for data, acc in r["sklearn_accuracy"].items():
        lines.append(f"| {data} | " + " | ".join(f"{acc[c]:.3f}" if c in acc else "—" for c in r["classifiers"])
                     + " |")
    if r["max_gap_to_sklearn"] is not None:
        lines += ["", f"The largest accuracy gap between a shendu.ml estimator and scikit-learn's is "
                  f"{r['max_gap_to_sklearn']:.3f} (randomised ensembles draw different bootstraps; ties between "
                  "equally good tree splits are broken differently)."]
    best = {d: max(acc, key=acc.get) for d, acc in r["accuracy"].items()}
    lines += ["", "Best on each set: " + "; ".join(f"{d}: {b} ({r['accuracy'][d][b]:.3f})" for d, b in best.items())
              + ".", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
