"""The CRI log file format, as the kubelet and `kubectl logs` read it."""

from __future__ import annotations

import io

from kube.cri.runtime.logs import LogWriter, format_line, parse_line, rfc3339nano

T = 1_475_712_429_669_794_202  # 2016-10-06T00:07:09.669794202Z


def test_timestamps_are_go_rfc3339nano_in_utc() -> None:
    assert rfc3339nano(T) == "2016-10-06T00:07:09.669794202Z"
    assert rfc3339nano(1_475_712_429_100_000_000) == "2016-10-06T00:07:09.1Z"
    assert rfc3339nano(1_475_712_429_000_000_000) == "2016-10-06T00:07:09Z"


def test_a_full_line() -> None:
    assert format_line(T, "stdout", b"hello") == (
        b"2016-10-06T00:07:09.669794202Z stdout F hello\n"
    )


def test_writer_splits_lines_and_streams() -> None:
    sink = io.BytesIO()
    writer = LogWriter(sink)
    writer.write("stdout", b"one\ntw", T)
    writer.write("stderr", b"oops\n", T)
    writer.write("stdout", b"o\n", T)
    writer.write("stdout", b"no newline", T)
    writer.close(T)
    lines = sink.getvalue().splitlines(keepends=True)
    assert [parse_line(line)[1:] for line in lines] == [
        ("stdout", False, b"one"),
        ("stderr", False, b"oops"),
        ("stdout", False, b"two"),
        ("stdout", True, b"no newline"),
    ]


def test_long_lines_are_cut_into_partials() -> None:
    sink = io.BytesIO()
    writer = LogWriter(sink, max_line=4)
    writer.write("stdout", b"abcdefghij\n", T)
    tags = [parse_line(line)[2:] for line in sink.getvalue().splitlines()]
    assert tags == [(True, b"abcd"), (True, b"efgh"), (False, b"ij")]
