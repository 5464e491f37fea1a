"""shendu.threads: the one pool and PyTorch's thread settings."""
import threading

import pytest

import shendu as sd
from shendu import threads


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(threads, "_num_threads", None)
    monkeypatch.setattr(threads, "_interop_threads", None)
    yield
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, user_api="blas")  # tests/conftest.py runs one BLAS thread per worker


def test_set_num_threads_sets_pool_and_blas():
    from threadpoolctl import threadpool_info
    sd.set_num_threads(3)
    assert sd.get_num_threads() == 3
    assert all(info["num_threads"] == 3 for info in threadpool_info() if info["user_api"] == "blas")
    sd.set_num_threads(1)
    assert sd.get_num_threads() == 1
    assert all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_set_num_threads_rejects(bad):
    with pytest.raises(ValueError, match="set_num_threads: expected an int n >= 1"):
        sd.set_num_threads(bad)


def test_default_reads_environment(monkeypatch):
    monkeypatch.setenv("SHENDU_NUM_THREADS", "5")
    assert sd.get_num_threads() == 5
    monkeypatch.delenv("SHENDU_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert sd.get_num_threads() == 4


def test_interop_threads_set_once():
    assert sd.get_num_interop_threads() >= 1
    sd.set_num_interop_threads(2)
    assert sd.get_num_interop_threads() == 2
    with pytest.raises(RuntimeError, match="only once"):
        sd.set_num_interop_threads(3)


def test_parallel_for_ranges_threads_and_order():
    sd.set_num_threads(3)
    seen = {}

    def fn(a, b):
        seen[a] = threading.current_thread().name
        return a, b

    assert threads.parallel_for(fn, 10) == [(0, 3), (3, 6), (6, 10)]
    assert seen[0] == threading.current_thread().name  # the caller runs the first range
    assert seen[3].startswith("shendu") and seen[6].startswith("shendu")
    assert threads.parallel_for(lambda a, b: (a, b), 10, min_chunk=6) == [(0, 10)]
    sd.set_num_threads(1)
    assert threads.parallel_for(lambda a, b: (a, b), 10) == [(0, 10)]


def test_parallel_for_raises_after_all_ranges_finish():
    sd.set_num_threads(2)
    done = []

    def fn(a, b):
        if a == 0:
            raise KeyError("first range")
        done.append(a)

    with pytest.raises(KeyError, match="first range"):
        threads.parallel_for(fn, 4)
    assert done == [2]


def test_nested_parallel_for_runs_inline():
    sd.set_num_threads(2)
    inner = threads.parallel_for(lambda a, b: threads.parallel_for(lambda c, d: (c, d), 4), 2)
    assert inner == [[(0, 4)], [(0, 4)]]


def test_optimizer_shim_follows_the_pool():
    from shendu.optim import _parallel
    sd.set_num_threads(3)
    assert _parallel.get_num_threads() == 3


def _blas_threads() -> list:
    from threadpoolctl import threadpool_info
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_one_blas_thread_holds_blas_and_restores_it():
    sd.set_num_threads(2)
    with threads.one_blas_thread():
        assert set(_blas_threads()) == {1}
        with threads.one_blas_thread():  # nested: one hold
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {2}


def test_split_with_blas_runs_the_ranges_at_one_blas_thread(monkeypatch):
    sd.set_num_threads(2)
    monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
    seen = threads.split_batch(lambda a, b: (a, b, tuple(_blas_threads())), 4, 100, blas=True)
    assert [s[:2] for s in seen] == [(0, 2), (2, 4)]
    assert all(set(s[2]) == {1} for s in seen)
    assert set(_blas_threads()) == {2}
    # one range only (small work): BLAS keeps its threads for the caller's products
    (only,) = threads.split_batch(lambda a, b: tuple(_blas_threads()), 4, 1, blas=True)
    assert set(only) == {2}
