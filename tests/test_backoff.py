"""Reconnect delays: exponential backoff with jitter, capped, reset by a stable connection."""

from hypothesis import given
from hypothesis import strategies as st

from wsdat_core.backoff import Backoff


def upper(low: float, high: float) -> float:
    return high


def lower(low: float, high: float) -> float:
    return low


def test_first_delay_is_random_within_the_window_then_grows_by_factor_up_to_cap() -> None:
    backoff = Backoff(first=1.0, factor=2.0, cap=10.0, uniform=upper)
    assert [backoff.next_delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    backoff = Backoff(first=1.0, factor=2.0, cap=10.0, uniform=lower)
    assert [backoff.next_delay() for _ in range(4)] == [0.0, 1.0, 2.0, 4.0]


def test_a_stable_connection_resets_and_a_short_one_does_not() -> None:
    backoff = Backoff(first=1.0, factor=2.0, cap=10.0, stable_after=5.0, uniform=upper)
    backoff.next_delay()
    backoff.next_delay()
    backoff.connection_lasted(1.0)
    assert backoff.next_delay() == 4.0
    backoff.connection_lasted(5.0)
    assert backoff.next_delay() == 1.0


@given(first=st.floats(0.01, 5), factor=st.floats(1.0, 3), cap=st.floats(1, 90), attempts=st.integers(1, 40))
def test_delays_stay_within_bounds(first: float, factor: float, cap: float, attempts: int) -> None:
    backoff = Backoff(first=first, factor=factor, cap=cap)
    delays = [backoff.next_delay() for _ in range(attempts)]
    assert 0 <= delays[0] <= first
    assert all(0 <= d <= max(cap, first) for d in delays)
