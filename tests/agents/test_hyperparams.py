"""agents.hyperparams: per-environment options as YAML, checked, most specific entry
first; the documented results' commands use exactly the files' settings."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import pytest

from agents.config import AgentConfig, PPOConfig
from agents.hyperparams import (
    POLICY_KEYS,
    entry_name,
    load_hyperparams,
    package_file,
    read_file,
)
from agents.run_args import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "hp.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


SPECIFIC = """
    bpl/TMaze-v0:
      gamma: 0.9
    bpl/TMaze-v0 corridor_length=100:
      env_kwargs: {corridor_length: 100}
      gamma: 0.95
    bpl/TMaze-v0 corridor_length=100 max_steps=404:
      env_kwargs: {corridor_length: 100, max_steps: 404}
      gamma: 0.97
    bpl/CartPoleNoVel-v1:
      n_steps: 16
"""


@pytest.mark.parametrize(
    "env_id, env_kwargs, name, gamma",
    [
        ("bpl/TMaze-v0", None, "bpl/TMaze-v0", 0.9),
        ("bpl/TMaze-v0", {"corridor_length": 50}, "bpl/TMaze-v0", 0.9),
        ("bpl/TMaze-v0", {"corridor_length": 100}, "bpl/TMaze-v0 corridor_length=100", 0.95),
        (
            "bpl/TMaze-v0",
            {"corridor_length": 100, "max_steps": 404},
            "bpl/TMaze-v0 corridor_length=100 max_steps=404",
            0.97,
        ),
        ("bpl/TMaze-v0", {"max_steps": 404}, "bpl/TMaze-v0", 0.9),
    ],
)
def test_the_most_specific_matching_entry_wins(tmp_path, env_id, env_kwargs, name, gamma):
    path = _write(tmp_path, SPECIFIC)
    assert load_hyperparams("a2c", env_id, env_kwargs, path) == (name, {"gamma": gamma})


def test_no_entry_and_equally_specific_entries(tmp_path):
    path = _write(tmp_path, SPECIFIC)
    assert load_hyperparams("a2c", "bpl/RepeatPrevious-v0", path=path) == (None, {})
    tie = _write(
        tmp_path,
        """
        bpl/TMaze-v0 corridor_length=100:
          env_kwargs: {corridor_length: 100}
        bpl/TMaze-v0 max_steps=404:
          env_kwargs: {max_steps: 404}
        """,
        "tie.yml",
    )
    with pytest.raises(ValueError, match="both match"):
        load_hyperparams("a2c", "bpl/TMaze-v0", {"corridor_length": 100, "max_steps": 404}, tie)


@pytest.mark.parametrize(
    "algo, entry, match",
    [
        ("a2c", "gama: 0.9", "unknown key 'gama'"),
        ("a2c", "n_epochs: 4", "unknown key 'n_epochs'.*ppo.yml"),
        ("ppo", "policy_kwargs: {net_arch: [8]}", "unknown key policy_kwargs.net_arch"),
    ],
)
def test_unknown_keys_are_refused_naming_key_and_file(tmp_path, algo, entry, match):
    path = _write(tmp_path, f"bpl/TMaze-v0:\n  {entry}\n")
    with pytest.raises(ValueError, match=match) as err:
        load_hyperparams(algo, "bpl/RepeatPrevious-v0", path=path)  # any env: whole file
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "entry, match",
    [
        ("gamma: 2", "gamma"),
        ("n_steps: 0", "n_steps"),
        ("learning_rate: 1e-3", "learning_rate"),  # YAML 1.1: a string
        ("learning_rate: {schedule: linear}", "learning_rate_schedule"),
        ("n_steps: 8\n  window: 3", "window must divide"),
        ("normalize_reward: 1", "normalize_reward"),
        ("n_envs: 0", "n_envs"),
        ("total_timesteps: 1.5", "total_timesteps"),
        ("learning_rate_schedule: cosine", "learning_rate_schedule"),
        ("policy_kwargs: {chrono_max: -1}", "chrono_max"),
        ("policy_kwargs: {gate_bias: high}", "gate_bias"),
        ("policy_kwargs: {value_trains_core: 1}", "value_trains_core must be a bool"),
        ("policy_kwargs: {normalize_obs: 0}", "normalize_obs must be a bool"),
        ("policy_kwargs: {encoder_size: -1}", "encoder_size must be an integer >= 0"),
        ("policy_kwargs: {head_size: 8.0}", "head_size must be an integer >= 0"),
        ("env_kwargs: [1]", "env_kwargs"),
    ],
)
def test_bad_values_are_refused(tmp_path, entry, match):
    path = _write(tmp_path, f"bpl/TMaze-v0:\n  {entry}\n")
    with pytest.raises(ValueError, match=match) as err:
        read_file("a2c", path)
    assert str(path) in str(err.value) and "'bpl/TMaze-v0'" in str(err.value)


def test_bad_files_are_refused(tmp_path):
    misnamed = _write(tmp_path, "bpl/TMaze-v0 L=100:\n  env_kwargs: {corridor_length: 100}\n")
    with pytest.raises(ValueError, match="must be named 'bpl/TMaze-v0 corridor_length=100'"):
        read_file("a2c", misnamed)
    with pytest.raises(ValueError, match="not valid YAML"):
        read_file("a2c", _write(tmp_path, "a: [", "broken.yml"))
    with pytest.raises(ValueError, match="must map entry names"):
        read_file("a2c", _write(tmp_path, "- a\n- b\n", "list.yml"))
    unsafe = _write(tmp_path, "bpl/TMaze-v0: !!python/object/apply:os.getcwd []\n", "u.yml")
    with pytest.raises(ValueError, match="not valid YAML"):  # safe_load only
        read_file("a2c", unsafe)
    assert read_file("ppo", _write(tmp_path, "", "empty.yml")) == {}


def test_package_files_are_valid_and_name_their_result_page():
    for algo in ("a2c", "ppo"):
        entries = read_file(algo)
        assert entries, algo
        lines = package_file(algo).read_text().splitlines()
        for name in entries:
            i = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
            comments = []
            while i > 0 and lines[i - 1].startswith("#"):
                i -= 1
                comments.append(lines[i])
            pages = re.findall(r"docs/results/[\w.]+\.md", " ".join(comments))
            assert pages, f"{algo}.yml entry {name!r} names no docs/results page"
            assert all((ROOT / p).is_file() for p in pages), pages


# ---- the documented commands' settings are the files' ------------------------------

#: page -> the (algo, env id, env kwargs of the command) whose settings the files hold
DOCUMENTED = {
    "tmaze.md": [
        ("a2c", "bpl/TMaze-v0", {"corridor_length": 50, "max_steps": 204}),
        ("a2c", "bpl/TMaze-v0", {"corridor_length": 100, "max_steps": 404}),
    ],
    "tmaze_defaults.md": [("a2c", "bpl/TMaze-v0", {"corridor_length": 50, "max_steps": 204})],
    "cartpole_novel.md": [("ppo", "bpl/CartPoleNoVel-v1", {})],
    "repeat_previous_easy.md": [("ppo", "bpl/RepeatPreviousEasy-v0", {})],
    "repeat_previous_easy_v1.md": [("ppo", "bpl/RepeatPreviousEasy-v1", {})],
}
#: flags of a command that are entry keys besides the agent's options
RUN_FLAGS = ("n_envs", "total_timesteps", "learning_rate_schedule")
POLICY_FLAGS = POLICY_KEYS


def _commands(page: str) -> list[dict]:
    """The train.py / compare.py commands of a page's bash blocks, as the flags given."""
    text = (ROOT / "docs/results" / page).read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line, comments=True)
            if not any(t.endswith(("scripts/train.py", "scripts/compare.py")) for t in tokens):
                continue
            flags = [t for t in tokens[2:] if t != "--"]
            given, _ = build_parser(suppress_defaults=True).parse_known_args(flags)
            out.append(vars(given))
    return out


def _expected_value(key: str, values: dict):
    if key in POLICY_FLAGS:
        return values.get("policy_kwargs", {}).get(key, "<missing>")
    return values.get(key, "<missing>")


@pytest.mark.parametrize("page", sorted(DOCUMENTED))
def test_documented_commands_use_the_files_settings(page):
    commands = _commands(page)
    for algo, env_id, env_kwargs in DOCUMENTED[page]:
        found = [
            c
            for c in commands
            if c.get("algo", "a2c") == algo
            and c.get("env", "bpl/TMaze-v0") == env_id
            and json.loads(c.get("env_kwargs", "{}")) == env_kwargs
        ]
        assert found, f"{page}: no command for {algo} {entry_name(env_id, env_kwargs)}"
        name, values = load_hyperparams(algo, env_id, env_kwargs)
        assert name is not None, f"no entry in {algo}.yml for {page}'s command"
        cls = PPOConfig if algo == "ppo" else AgentConfig
        keys = set(cls.names()) | set(RUN_FLAGS) | set(POLICY_FLAGS)
        for given in found:
            passed = {k: v for k, v in given.items() if k in keys and k != "credit"}
            for key, value in passed.items():
                expected = _expected_value(key, values)
                assert expected == value, f"{page}: --{key} {value} but {name}: {expected}"
            # what the entry sets beyond the command's flags is the agent's default
            defaults = {f: getattr(cls, f) for f in cls.names()} | {"n_envs": 8}
            for key, value in values.items():
                if key in defaults and key not in passed:
                    assert value == defaults[key], f"{page}: {name} sets {key}={value}"
