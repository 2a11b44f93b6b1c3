"""scripts/probes/probe_stream_memory.py: one line per segment of one long stream."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "probes"))

import probe_stream_memory  # noqa: E402


def test_one_line_per_segment_and_the_stream_never_resets(capsys, monkeypatch):
    built = []
    real = probe_stream_memory.RecurrentA2C

    def spy(*args, **kwargs):
        model = real(*args, **kwargs)
        built.append(model)
        return model

    monkeypatch.setattr(probe_stream_memory, "RecurrentA2C", spy)
    argv = ["--credits", "tbptt", "bptt", "--corridor-length", "3", "--segments", "3"]
    argv += ["--segment-steps", "32", "--n-envs", "2"]
    assert probe_stream_memory.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    pattern = r"SEGMENT (\w+) steps_per_env=(\d+) sps=\d+ peak_rss_mb=(\d+|None)"
    parsed = [re.fullmatch(pattern, ln) for ln in lines]
    assert all(parsed)
    assert [(m[1], int(m[2])) for m in parsed] == [
        (c, n) for c in ("tbptt", "bptt") for n in (16, 32, 48)
    ]
    bptt = built[1]
    assert bptt.credit == "bptt" and bptt.max_bptt_steps > 48
    assert len(bptt.ep_info_buffer) == 0  # no episode ended: one stream per env


@pytest.mark.parametrize("flag", ["--segments", "--segment-steps", "--corridor-length"])
def test_non_positive_sizes_are_refused(flag):
    with pytest.raises(SystemExit, match=flag):
        probe_stream_memory.main([flag, "0"])
