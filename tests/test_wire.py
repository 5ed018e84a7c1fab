"""The driver <-> writer channel: framed pickles of typed events, read back by name."""

from __future__ import annotations

import io

from hpo import _wire as wire


def test_events_round_trip_in_one_write_and_end_with_eof():
    events = [
        wire.TrialStart(3, 1000, {"lr": 0.1}),
        wire.Metrics(3, 1001, 2, {"loss": 0.5}),
        wire.TrialEnd(3, 1002, "complete", 0.25, None),
        wire.Closed(parent_run_id="p", experiment_id="1", unrecorded=[4], missing=("model",)),
    ]
    stream = io.BytesIO(wire.pack(events))
    got = []
    while (event := wire.read(stream)) is not wire.EOF:
        got.append(event)
    assert got == events
    assert got[2].state == "complete" and got[2].value == 0.25  # by name, not by position
    assert [type(e) for e in got] == [type(e) for e in events]


def test_a_frame_cut_short_reads_as_eof():
    data = wire.pack([wire.Warn("x")])
    assert wire.read(io.BytesIO(data[:3])) is wire.EOF
    assert wire.read(io.BytesIO(b"")) is wire.EOF


class _Gone:
    """Pickled by reference to a class the reading side cannot import."""


def test_pump_skips_a_frame_it_cannot_unpickle_and_always_ends_with_eof():
    data = wire.pack([wire.Warn("a"), _Gone(), wire.Warn("b")])
    data = data.replace(b"_Gone", b"_Lost")  # a class name the reader cannot resolve
    got, lost = [], []
    wire.pump(io.BytesIO(data), got.append, lost.append)
    assert got == [wire.Warn("a"), wire.Warn("b"), wire.EOF]
    assert len(lost) == 1 and isinstance(lost[0], AttributeError)
