"""The embedded data set: Wisconsin diagnostic breast cancer (569 x 30), shipped in ``problems/data/``."""
from __future__ import annotations

from importlib import resources

import numpy as np

from ._load import Dataset

BREAST_CANCER_SOURCE = ("Wisconsin Diagnostic Breast Cancer, UCI Machine Learning Repository "
                        "(Wolberg, Street & Mangasarian, 1995), CC BY 4.0")


def breast_cancer(standardize: bool = True) -> Dataset:
    """The Wisconsin diagnostic breast-cancer data: X (569 x 30 features of cell nuclei), y (1 = malignant,
    0 = benign). With ``standardize`` (the default) every feature is centred and scaled to unit population
    standard deviation, (x - mean) / std. Source and licence: ``problems/data/README.md``."""
    ref = resources.files("ricci.problems") / "data" / "breast_cancer.csv"
    with ref.open("r", encoding="utf-8") as fh:
        names = tuple(fh.readline().strip().split(","))
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    X, y = table[:, :-1], table[:, -1].copy()
    if standardize:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    return Dataset(X, y, names[:-1], names[-1], (), BREAST_CANCER_SOURCE,
                   {"standardized": bool(standardize)})
