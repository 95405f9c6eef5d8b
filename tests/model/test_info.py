"""Info channels and the cook clock, with an injected time source."""

import pytest

from wsdat_core.model.info import CHANNELS, TD_CHANNELS, Clock, Info


class FakeTime:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(rate: float = 60.0) -> tuple[Info, FakeTime]:
    now = FakeTime(100.0)
    clock = Clock(rate=rate, now=now, process_origin=90.0)
    return Info(clock, shape=lambda: (5, 2)), now


def test_all_td_channels_and_our_own_are_readable_as_attributes_and_mapping() -> None:
    info, _ = make()
    as_dict = dict(info)
    assert set(TD_CHANNELS) <= set(as_dict)
    for extra in ("state", "messages_received", "bytes_received", "messages_sent", "connects", "disconnects"):
        assert extra in as_dict
    assert list(as_dict) == list(CHANNELS)
    assert (info.num_rows, info.num_cols) == (5, 2)
    assert info["errors"] == 0 and info.state == "closed"
    with pytest.raises(KeyError, match="no info channel"):
        info["nope"]


def test_a_cook_records_frames_and_times_exactly() -> None:
    info, now = make(rate=60.0)
    # 10.5 s after the DAT started (100.0) and 20.5 s after process start (90.0)
    now.t = 110.5
    started = info.begin_cook()
    now.t = 110.5025  # 2.5 ms later
    info.end_cook(started)
    assert info.total_cooks == 1
    assert info.cook_time == pytest.approx(2.5)
    assert info.cook_frame == 630  # 10.5 s * 60
    assert info.cook_abs_frame == 1230  # 20.5 s * 60
    assert info.cook_start_time == pytest.approx(0.0, abs=1e-6)
    assert info.cook_end_time == pytest.approx(2.5)
    assert info.cooked_this_frame == 1
    now.t = 110.52  # one frame later (16.7 ms per frame)
    assert info.cooked_this_frame == 0


def test_cook_start_time_is_milliseconds_into_the_frame() -> None:
    info, now = make(rate=10.0)  # 100 ms frames
    now.t = 90.0 + 1.234
    started = info.begin_cook()
    info.end_cook(started)
    assert info.cook_abs_frame == 12
    assert info.cook_start_time == pytest.approx(34.0)


def test_no_cook_yet_means_not_cooked_this_frame() -> None:
    info, _ = make()
    assert info.cooked_this_frame == 0
    assert info.total_cooks == 0


def test_clock_rate_is_configurable_and_validated() -> None:
    now = FakeTime(0.0)
    clock = Clock(rate=30, now=now, process_origin=0.0)
    now.t = 2.0
    assert clock.frame(now()) == 60
    clock.restart()
    assert clock.frame(now()) == 0
    assert clock.abs_frame(now()) == 60
    with pytest.raises(ValueError, match="rate"):
        Clock(rate=0)


def test_abs_frames_count_from_the_process_start_not_from_the_import() -> None:
    import subprocess
    import sys

    code = ("import time; time.sleep(0.6); from wsdat_core.runtime.processclock import PROCESS_START; "
            "print(time.monotonic() - PROCESS_START)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert 0.55 <= float(done.stdout) < 30
