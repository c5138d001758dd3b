"""The progress line of long steps: shown on a terminal after the delay, never elsewhere."""

from __future__ import annotations

import io
import time

from accelsim.cli.progress import run_step


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_long_step_on_a_terminal_shows_its_name_and_elapsed_time() -> None:
    stream = Terminal()
    assert run_step("scheduling", lambda x: time.sleep(0.8) or x + 1, 41, stream=stream,
                    delay=0.1) == 42
    assert "scheduling: 00:00 elapsed" in stream.getvalue()


def test_a_short_step_or_no_terminal_prints_nothing() -> None:
    quick, piped = Terminal(), io.StringIO()
    assert run_step("quick", sum, [1, 2], stream=quick, delay=5.0) == 3
    assert run_step("piped", lambda: time.sleep(0.3), stream=piped, delay=0.0) is None
    assert quick.getvalue() == "" and piped.getvalue() == ""


def test_an_error_in_the_step_propagates_and_stops_the_line() -> None:
    stream = Terminal()

    def fails() -> None:
        raise ValueError("boom")

    try:
        run_step("failing", fails, stream=stream, delay=0.0)
    except ValueError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the error was swallowed")
