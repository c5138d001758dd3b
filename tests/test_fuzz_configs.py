"""Hypothesis fuzz of run and model files: accelsim's own error naming the file, or a sound run.

The files come from tests/fuzz_inputs.py (hypothesis drives its random generator, so a
failure shrinks and replays). Whatever the file holds, loading and simulating it either
raises an AccelsimError whose message names the run file or the model file, or finishes
with every invariant of fuzz_inputs.judge holding. benchmarks/fuzz_configs.py runs the
same generator over >= 10,000 files.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from fuzz_inputs import judge, write_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.errors import AccelsimError
from accelsim.yamlio import load_yaml_text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_random_run_and_model_files(rng: random.Random) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run = write_case(rng, Path(folder), damage_rate=0.2)
        outcome = judge(run)
        assert outcome.kind in ("ok", "rejected"), outcome


YAML_ALPHABET = st.sampled_from(list("ab:- \n\t[]{},&*!?|>'\"#%@`0123456789.") + ["<<", "１"])


@settings(max_examples=200, deadline=None)
@given(st.lists(YAML_ALPHABET, max_size=80).map("".join))
def test_any_text_is_data_or_one_located_error(text: str) -> None:
    try:
        load_yaml_text(text, "f.yaml")
    except AccelsimError as exc:
        message = str(exc)
        assert message.startswith("f.yaml") and "\n" not in message, message
