"""Calendar rules of the ed-arrivals models (public holidays and the University
of Iowa academic calendar), known for any future date. Mirrored by
forecasters/src/calendar.rs; shared by ed_arrivals.py (1.2.0) and
ed_arrivals_1_1_0.py (which reproduces the committed 1.1.0 and 1.0.0 layouts)."""
import datetime as dt

HOLIDAYS = ["xmas", "xmas2", "nye", "nyd", "thx", "thx1", "ind"]


def thanksgiving(year):
    nov1 = dt.date(year, 11, 1)
    first_thu = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thu + dt.timedelta(days=21)


def holiday_flags(d):
    """Calendar rule for the CSV's day flags (checked against the CSV by the training scripts)."""
    thx = thanksgiving(d.year)
    return [
        int(d.month == 12 and d.day == 25),
        int(d.month == 12 and d.day == 26),
        int(d.month == 12 and d.day == 31),
        int(d.month == 1 and d.day == 1),
        int(d == thx),
        int(d == thx + dt.timedelta(days=1)),
        int(d.month == 7 and d.day == 4),
    ]


def nth_weekday(year, month, weekday, n):
    """The n-th `weekday` (Mon=0) of a month."""
    d = dt.date(year, month, 1)
    return d + dt.timedelta(days=(weekday - d.weekday()) % 7 + 7 * (n - 1))


def uiowa_in_session(d):
    """University of Iowa classes or finals on day d (rule for any year):
    spring semester from the Tuesday after Martin Luther King Day (3rd Monday of
    January) to the Friday of finals week 115 days later; fall semester from
    the Monday on or before August 26 (Aug 20-26) to the 3rd Friday of
    December. Not in session:
    spring break (Sunday 55 days after MLK Day through the Monday 63 days after)
    and Thanksgiving week (Saturday before to Sunday after Thanksgiving)."""
    mlk = nth_weekday(d.year, 1, 0, 3)
    spring_start = mlk + dt.timedelta(days=1)
    spring_end = spring_start + dt.timedelta(days=115)
    aug26 = dt.date(d.year, 8, 26)
    fall_start = aug26 - dt.timedelta(days=aug26.weekday())
    fall_end = nth_weekday(d.year, 12, 4, 3)
    thx = thanksgiving(d.year)
    if mlk + dt.timedelta(days=55) <= d <= mlk + dt.timedelta(days=63):
        return 0
    if thx - dt.timedelta(days=5) <= d <= thx + dt.timedelta(days=3):
        return 0
    return int(spring_start <= d <= spring_end or fall_start <= d <= fall_end)


# The session rule against published UI first days of classes and breaks (2013-2018).
SESSION_CHECKS = [("2013-08-25", 0), ("2013-08-26", 1), ("2016-08-22", 1), ("2017-08-20", 0), ("2017-08-21", 1),
                  ("2018-08-20", 1), ("2017-12-15", 1), ("2017-12-16", 0), ("2018-01-15", 0), ("2018-01-16", 1),
                  ("2018-03-10", 1), ("2018-03-11", 0), ("2018-03-19", 0), ("2018-05-11", 1), ("2018-05-12", 0),
                  ("2017-11-17", 1), ("2017-11-18", 0), ("2017-11-26", 0), ("2017-11-27", 1)]


def check_session_rule():
    for day, want in SESSION_CHECKS:
        assert uiowa_in_session(dt.date.fromisoformat(day)) == want, day
