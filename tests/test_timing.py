"""ebmbook._timing: the one wall-clock helper, checked against time.sleep."""

import time

import pytest

from ebmbook._timing import Stopwatch, timed


def test_timed_stores_the_block_time_under_its_name():
    timings = {"earlier": 1.0}
    with timed(timings, "nap") as clock:
        time.sleep(0.02)
    assert 0.02 <= timings["nap"] < 1.0
    assert timings["nap"] == clock.seconds          # frozen when the block finished
    time.sleep(0.01)
    assert clock.seconds == timings["nap"]
    assert list(timings) == ["earlier", "nap"]


def test_timed_without_a_dict_and_a_raising_block():
    with timed() as clock:
        time.sleep(0.01)
    assert clock.seconds >= 0.01
    timings = {}
    with pytest.raises(RuntimeError):
        with timed(timings, "failed"):
            raise RuntimeError("boom")
    assert timings == {}                           # a failed stage records no time
    with pytest.raises(ValueError, match="name"):
        with timed({}):
            pass


def test_stopwatch_runs_until_stopped_and_counts_earlier_time():
    watch = Stopwatch()
    a = watch.seconds
    time.sleep(0.01)
    assert watch.seconds >= a + 0.01
    stopped = watch.stop()
    time.sleep(0.01)
    assert watch.seconds == stopped == watch.stop()
    resumed = Stopwatch(already=5.0)               # a resumed run's earlier wall time
    assert 5.0 <= resumed.seconds < 6.0
