"""CronJob schedules: robfig/cron v3's standard parser and its error texts."""

from __future__ import annotations

import pytest

from kube.api.validation.cron import CronError, check_go_duration, parse_standard


@pytest.mark.parametrize(
    "spec",
    [
        "* * * * *",
        "*/5 * * * *",
        "0 0 1 1 *",
        "0-59/15 0-23 1-31 1-12 0-6",
        "5 4 * jan,JUL mon-fri",
        "? ? ? ? ?",
        "1,2,3 * * * *",
        "30 2 * * sun",
        "@hourly",
        "@daily",
        "@midnight",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@every 1h30m",
        "@every 1.5s",
        "TZ=UTC 0 * * * *",
        "CRON_TZ=Europe/Paris 0 * * * *",
    ],
)
def test_valid(spec: str) -> None:
    parse_standard(spec)


def test_fields_expand() -> None:
    parsed = parse_standard("*/20 1-3 * feb 5/1")
    assert parsed is not None
    assert parsed[0] == {0, 20, 40}
    assert parsed[1] == {1, 2, 3}
    assert parsed[3] == {2}
    assert parsed[4] == {5, 6}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "end of range (13) above maximum (12): 13"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        (
            "* * * foo *",
            'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax',
        ),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        (
            "@every 1d",
            'failed to parse duration @every 1d: time: unknown unit "d" in duration "1d"',
        ),
        ("@every 5", 'failed to parse duration @every 5: time: missing unit in duration "5"'),
        (
            "TZ=Mars/Olympus 0 * * * *",
            "provided bad location Mars/Olympus: unknown time zone Mars/Olympus",
        ),
    ],
)
def test_invalid(spec: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_standard(spec)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0", True),
        ("1h", True),
        ("-1.5m", True),
        ("300ms", True),
        ("", False),
        ("h", False),
        (".s", False),
    ],
)
def test_go_durations(text: str, ok: bool) -> None:
    if ok:
        check_go_duration(text)
    else:
        with pytest.raises(CronError):
            check_go_duration(text)
