"""Atomic writes: a crash during a save leaves the previous file intact and no temp files behind."""
import os

import numpy as np
import pytest

import shendu as sd
from shendu.io import atomic


def _crash_midway(monkeypatch):
    real = atomic._write_all

    def half_then_crash(fd, data):
        real(fd, bytes(data)[: len(data) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(atomic, "_write_all", half_then_crash)


def test_crash_midway_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    sd.save({"w": sd.ones(1000)}, path)
    before = path.read_bytes()
    _crash_midway(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        sd.save({"w": sd.zeros(1000)}, path)
    assert path.read_bytes() == before
    np.testing.assert_array_equal(sd.load(path)["w"]._data, np.ones(1000, np.float32))
    assert os.listdir(tmp_path) == ["last.safetensors"]  # the partial temp file was removed


def test_crash_before_rename_and_fresh_path(tmp_path, monkeypatch):
    def no_replace(src, dst):
        raise KeyboardInterrupt  # a kill between fsync and rename

    monkeypatch.setattr(atomic.os, "replace", no_replace)
    with pytest.raises(KeyboardInterrupt):
        sd.save({"w": sd.ones(3)}, tmp_path / "new.safetensors")
    assert os.listdir(tmp_path) == []


def test_write_creates_directories_and_replaces(tmp_path):
    path = tmp_path / "a" / "b" / "f.bin"
    atomic.atomic_write_bytes(path, b"one")
    atomic.atomic_write_bytes(path, b"two" * 10)
    assert path.read_bytes() == b"two" * 10
    assert os.listdir(path.parent) == ["f.bin"]
