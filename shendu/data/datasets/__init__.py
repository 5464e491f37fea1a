"""Built-in datasets; nothing is downloaded (the scikit-learn sets ship inside its wheel)."""
from shendu.data.datasets.sklearn_sets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from shendu.data.datasets.synthetic import sin_curve
from shendu.data.datasets.text import ByteTokenizer, CharDataset, CharTokenizer, Corpus, stdlib_corpus, stdlib_files
from shendu.data.datasets.toy import gaussian_blobs, spirals, two_moons, xor

__all__ = [
    "ByteTokenizer", "CharDataset", "CharTokenizer", "Corpus", "gaussian_blobs", "load_breast_cancer",
    "load_diabetes", "load_digits", "load_iris", "load_wine", "sin_curve", "spirals", "stdlib_corpus",
    "stdlib_files", "two_moons", "xor",
]
