"""Reconnect delays: exponential backoff with jitter, capped, reset by a stable connection; total for every allowed
parameter value and any number of attempts."""

import math
import sys
import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wsdat_core.model.backoff import Backoff

LARGEST = sys.float_info.max


def upper(low: float, high: float) -> float:
    return high


def lower(low: float, high: float) -> float:
    return low


def base_delay(backoff: Backoff, attempt: int) -> float:
    """The delay of attempt number ``attempt`` before jitter (the random source must return its upper bound)."""
    backoff.attempt = attempt - 1
    return backoff.next_delay()


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


def test_connection_lasting_exactly_stable_after_resets_and_just_below_does_not() -> None:
    backoff = Backoff(first=1.0, factor=2.0, cap=100.0, stable_after=5.0, uniform=upper)
    for _ in range(4):
        backoff.next_delay()
    backoff.connection_lasted(math.nextafter(5.0, 0.0))
    assert backoff.attempt == 4
    assert backoff.next_delay() == 16.0
    backoff.connection_lasted(5.0)
    assert backoff.attempt == 0
    assert backoff.next_delay() == 1.0
    backoff.next_delay()
    backoff.connection_lasted(5.5)
    assert backoff.attempt == 0


@given(first=st.floats(0.01, 5), factor=st.floats(1.0, 3), cap=st.floats(1, 90), attempts=st.integers(1, 40))
def test_delays_stay_within_bounds(first: float, factor: float, cap: float, attempts: int) -> None:
    backoff = Backoff(first=first, factor=factor, cap=cap)
    delays = [backoff.next_delay() for _ in range(attempts)]
    assert 0 <= delays[0] <= min(first, cap)
    assert all(0 <= d <= cap for d in delays)


# Every value the parameter checks allow: first > 0, factor >= 1, cap > 0, from subnormal to infinite.
positive = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=True)
factors = st.one_of(st.floats(min_value=1.0, allow_nan=False, allow_infinity=True),
                    st.floats(1.0, 1.0 + 1e-9), st.sampled_from([1.0, math.nextafter(1.0, 2.0), 1.618, 1e200, 1e300]))
attempt_numbers = st.one_of(st.integers(1, 3000), st.integers(1, 10**30), st.sampled_from([1476, 1477, 1478, 10**6]))
extremes = [1e-300, 5e-324, 1e300, LARGEST, math.inf]


def effective(value: float) -> float:
    return min(value, LARGEST)


@given(first=st.one_of(positive, st.sampled_from(extremes)), factor=factors,
       cap=st.one_of(positive, st.sampled_from(extremes)), attempt=attempt_numbers, later=attempt_numbers)
@example(first=1.0, factor=1.618, cap=60.0, attempt=1477, later=10**6)
@example(first=1e-300, factor=1.0 + 1e-9, cap=1e300, attempt=10**12, later=10**12 + 1)
@example(first=1e-300, factor=1e300, cap=1e300, attempt=2, later=3)
@example(first=5e-324, factor=math.nextafter(1.0, 2.0), cap=LARGEST, attempt=10**18, later=10**18 + 1)
def test_backoff_is_total_bounded_and_non_decreasing(first: float, factor: float, cap: float, attempt: int,
                                                     later: int) -> None:
    attempt, later = min(attempt, later), max(attempt, later)
    top = Backoff(first=first, factor=factor, cap=cap, uniform=upper)
    earlier_base, later_base = base_delay(top, attempt), base_delay(top, later)
    assert top.attempt == later
    for base in (earlier_base, later_base):
        assert math.isfinite(base)
        assert 0 <= base <= effective(cap)
    assert earlier_base <= later_base
    assert base_delay(top, 1) == min(effective(first), effective(cap))
    assert base_delay(top, attempt) <= base_delay(top, attempt + 1)
    # with the real random source, jitter keeps every delay within [0, cap], the first also below first
    jittered = Backoff(first=first, factor=factor, cap=cap)
    for number in (1, attempt, later):
        delay = base_delay(jittered, number)
        assert math.isfinite(delay)
        assert 0 <= delay <= effective(cap)
        if number == 1:
            assert delay <= effective(first)
        else:
            assert delay >= base_delay(Backoff(first=first, factor=factor, cap=cap, uniform=upper), number) * 0.5


@given(first=st.floats(1e-6, 1e6), factor=st.floats(1.0, 10.0), cap=st.floats(1e-6, 1e6), attempt=st.integers(2, 60))
def test_below_the_cap_the_delay_is_exactly_exponential(first: float, factor: float, cap: float, attempt: int) -> None:
    expected = min(cap, first * factor ** (attempt - 1))
    assert base_delay(Backoff(first=first, factor=factor, cap=cap, uniform=upper), attempt) == expected
    assert base_delay(Backoff(first=first, factor=factor, cap=cap, uniform=lower), attempt) == expected * 0.5


def test_rounding_corners_where_powers_give_way_to_logarithms() -> None:
    # cap / first > e**700, factor barely above 1: the first step computed with exp rounds below the last power
    first, factor, cap = 1.178128025125e-311, 1.0000000000000009, 3.8009040236210607e+257
    last_power = int(700 / math.log(factor))
    backoff = Backoff(first=first, factor=factor, cap=cap, uniform=upper)
    assert base_delay(backoff, last_power + 1) == first * factor**last_power
    assert base_delay(backoff, last_power + 1) <= base_delay(backoff, last_power + 2) <= cap
    # the largest cap: just below the step that reaches it, the rounded exponent is log(cap) plus one ulp
    backoff = Backoff(first=2.219664769164188e-197, factor=math.nextafter(1.0, 2.0), cap=LARGEST, uniform=upper)
    assert base_delay(backoff, 5235860697566311423 + 1) == LARGEST


def test_huge_factor_regression_5000_attempts_stay_within_cap() -> None:
    backoff = Backoff(first=0.001, factor=1e200, cap=0.01)
    delays = [backoff.next_delay() for _ in range(5000)]
    assert backoff.attempt == 5000
    assert 0 <= delays[0] < 0.001
    assert all(math.isfinite(d) and 0.005 <= d <= 0.01 for d in delays[1:])


def test_defaults_past_attempt_1477_stay_at_the_cap_in_constant_time() -> None:
    backoff = Backoff(uniform=upper)
    assert [base_delay(backoff, n) for n in (1476, 1477, 1478, 10**6, 10**100, 10**400)] == [60.0] * 6
    started = time.perf_counter()
    backoff.attempt = 10**6
    for _ in range(10_000):
        assert backoff.next_delay() == 60.0
    assert time.perf_counter() - started < 1.0


def test_infinite_cap_and_first_count_as_the_largest_float() -> None:
    backoff = Backoff(first=math.inf, factor=2.0, cap=math.inf, uniform=upper)
    assert [backoff.next_delay() for _ in range(3)] == [LARGEST] * 3
    backoff = Backoff(first=1.0, factor=math.inf, cap=math.inf, uniform=upper)
    assert [backoff.next_delay() for _ in range(3)] == [1.0, LARGEST, LARGEST]


@pytest.mark.parametrize(("field", "value"), [("first", 0.0), ("first", -1.0), ("first", math.nan),
                                              ("factor", 0.5), ("factor", math.nan), ("cap", 0.0), ("cap", math.nan)])
def test_values_outside_the_allowed_domain_are_refused_by_name(field: str, value: float) -> None:
    backoff = Backoff(uniform=upper)
    setattr(backoff, field, value)
    with pytest.raises(ValueError, match=rf"^Backoff\.{field}: "):
        backoff.next_delay()
