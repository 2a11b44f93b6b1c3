"""Hostile and broken checkpoint files: each is refused with
``ValueError("cannot read checkpoint <path>: …")`` naming the part, the value and what is
allowed, before anything is built from it; nothing from the file runs, writes, or picks a
path; a zip bomb is refused unread."""

from __future__ import annotations

import copy
import io
import json
import time
import zipfile

import pytest
import torch

from agents import RecurrentA2C, RecurrentPPO, load_agent, read_checkpoint
from agents import checkpoint as ckpt_mod

from .helpers import cue_venv


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """(meta, tensor bytes) of a small trained A2C checkpoint."""
    torch.set_num_threads(1)
    model = RecurrentA2C(
        "MlpRecurrentPolicy", cue_venv(), n_steps=4, hidden_size=8, seed=0, normalize_reward=True
    )
    model.learn(16)
    path = tmp_path_factory.mktemp("good") / "good.zip"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("meta.json")), zf.read("tensors.pt")


def _write(path, meta, raw, extra=()):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.json", meta if isinstance(meta, (str, bytes)) else json.dumps(meta))
        zf.writestr("tensors.pt", raw)
        for name, data in extra:
            zf.writestr(name, data)
    return path


def _tensors(raw):
    return torch.load(io.BytesIO(raw), weights_only=True)


def _raw(tensors):
    buf = io.BytesIO()
    torch.save(tensors, buf)
    return buf.getvalue()


def _refused(path, *words, cls=RecurrentA2C):
    with pytest.raises(ValueError) as info:
        cls.load(path)
    message = str(info.value)
    assert message.startswith(f"cannot read checkpoint {path}"), message
    for word in words:
        assert word in message, (word, message)
    return message


def _set(meta, dotted, value):
    meta = copy.deepcopy(meta)
    *parents, last = dotted.split(".")
    node = meta
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return meta


_DELETE = object()

# (meta key, bad value, words the message must contain)
META_CASES = [
    ("format", "something.else", ["format", "'something.else'", "bplambda.RecurrentA2C"]),
    ("format", _DELETE, ["format", "None"]),
    ("version", 2, ["version 2", "expected 1"]),
    ("version", True, ["version True"]),
    ("version", "1", ["version '1'"]),
    ("config", _DELETE, ["lacks ['config']"]),
    ("num_timesteps", _DELETE, ["lacks ['num_timesteps']"]),
    ("observation_space", _DELETE, ["lacks ['observation_space']"]),
    ("tensorboard_log", "/tmp/evil", ["unknown keys ['tensorboard_log']", "allowed"]),
    ("run_dir", "../../x", ["unknown keys ['run_dir']"]),
    ("algorithm", "EvilAgent", ["unknown agent 'EvilAgent'", "RecurrentA2C"]),
    ("algorithm", 3, ["unknown agent 3"]),
    ("num_timesteps", -100, ["num_timesteps", "[0, ", "-100"]),
    ("num_timesteps", 1.5, ["num_timesteps", "1.5"]),
    ("num_timesteps", "100", ["num_timesteps", "'100'"]),
    ("num_timesteps", True, ["num_timesteps", "True"]),
    ("num_timesteps", 2**70, ["num_timesteps", str(2**70)]),
    ("n_updates", -1, ["n_updates", "-1"]),
    ("episode_num", None, ["episode_num", "None"]),
    ("config", [], ["config must be a JSON object", "[]"]),
    ("config", "x", ["config must be a JSON object"]),
    ("config.tensorboard_log", "/tmp/evil", ["unknown options ['tensorboard_log']", "allowed"]),
    ("config.verbose", 2, ["unknown options ['verbose']"]),
    ("config.device", "cuda", ["unknown options ['device']"]),
    ("config.n_steps", -4, ["n_steps", ">= 1", "-4"]),
    ("config.n_steps", "8", ["n_steps", "'8'"]),
    ("config.n_steps", 2**40, ["n_steps", "at most", str(2**40)]),
    ("config.hidden_size", 10**6, ["hidden_size", "at most 4096"]),
    ("config.gamma", 1.5, ["gamma", "[0, 1]", "1.5"]),
    ("config.learning_rate", -1.0, ["learning_rate", "> 0", "-1.0"]),
    ("config.learning_rate", {"schedule": "cosine"}, ["learning_rate", "'linear'"]),
    ("config.credit", "magic", ["credit", "bp_lambda", "'magic'"]),
    ("config.core", "transformer", ["core", "'transformer'"]),
    ("config.sg_hidden_sizes", [10**6], ["sg_hidden_sizes", "[1, 4096]"]),
    ("config.sg_hidden_sizes", "16", ["sg_hidden_sizes", "'16'"]),
    ("config.sg_normalize", "yes", ["sg_normalize", "bool", "'yes'"]),
    ("config.seed", -5, ["seed", "2**32", "-5"]),
    ("config.seed", "0", ["seed", "'0'"]),
    ("config.policy_kwargs", [], ["policy_kwargs must be a JSON object"]),
    (
        "config.policy_kwargs.optimizer_class",
        "lr_scheduler",
        ["optimizer_class", "'lr_scheduler'", "Adam"],
    ),
    ("config.policy_kwargs.optimizer_class", "Optimizer", ["optimizer_class", "'Optimizer'"]),
    ("config.policy_kwargs.optimizer_class", 3, ["optimizer_class", "3"]),
    (
        "config.policy_kwargs.optimizer_kwargs",
        {"lr": 10.0},
        ["optimizer_kwargs.lr", "allowed keys"],
    ),
    ("config.policy_kwargs.optimizer_kwargs", {"eps": "x"}, ["optimizer_kwargs.eps", "'x'"]),
    ("config.policy_kwargs.optimizer_kwargs", [], ["optimizer_kwargs", "JSON object"]),
    (
        "config.policy_kwargs.features_extractor_class",
        "os.system",
        ["unknown keys ['features_extractor_class']"],
    ),
    ("config.policy_kwargs.encoder_size", 10**7, ["encoder_size", "[0, 4096]"]),
    ("config.policy_kwargs.head_size", -1, ["head_size", "-1"]),
    ("config.policy_kwargs.gate_bias", "x", ["gate_bias", "finite number"]),
    ("config.policy_kwargs.chrono_max", 1, ["chrono_max", "'auto'"]),
    ("config.policy_kwargs.normalize_obs", 1, ["normalize_obs", "a bool"]),
    ("observation_space", "Box", ["observation_space must be a JSON object"]),
    ("observation_space", {"type": "Dict"}, ["observation_space", "'Dict'"]),
    (
        "observation_space",
        {"type": "Discrete", "n": 10**12, "start": 0},
        ["observation_space", "n=", "[1, 1048576]"],
    ),
    ("observation_space", {"type": "Discrete", "n": -3, "start": 0}, ["observation_space", "-3"]),
    (
        "observation_space",
        {"type": "MultiBinary", "n": 10**9},
        ["observation_space", "[1, 1048576]"],
    ),
    ("observation_space", {"type": "MultiDiscrete", "nvec": [2, 0]}, ["observation_space", "nvec"]),
    (
        "observation_space",
        {"type": "Box", "low": 0, "high": 1, "shape": [10**5, 10**5], "dtype": "float32"},
        ["Box shape", "1048576"],
    ),
    (
        "observation_space",
        {"type": "Box", "low": 0, "high": 1, "shape": [3], "dtype": "object"},
        ["Box dtype", "'object'"],
    ),
    (
        "observation_space",
        {"type": "Box", "low": [0, 0], "high": [1, 1], "shape": [3], "dtype": "float32"},
        ["observation_space"],
    ),
    (
        "action_space",
        {"type": "Box", "low": [-1e400], "high": [1e400], "shape": [1], "dtype": "float32"},
        ["action_space", "finite bounds"],
    ),
    ("action_space", {"type": "Discrete"}, ["action_space", "malformed"]),
]


@pytest.mark.parametrize(
    "key, value, words", META_CASES, ids=[f"{k}={v!r:.30}" for k, v, _ in META_CASES]
)
def test_bad_metadata_is_refused_naming_key_and_value(tmp_path, good, key, value, words):
    meta, raw = good
    path = _write(tmp_path / "bad.zip", _set(meta, key, value), raw)
    _refused(path, *words)


def test_tensorboard_log_in_metadata_writes_nothing(tmp_path, good, monkeypatch):
    """A file may not pick where learn() writes (before: learn() wrote there)."""
    meta, raw = good
    target = tmp_path / "evil_tb"
    path = _write(tmp_path / "bad.zip", _set(meta, "config.tensorboard_log", str(target)), raw)
    _refused(path, "tensorboard_log")
    assert not target.exists()


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\xff\xfe not utf-8", ["corrupt"]),
        ("{not json", ["corrupt", "JSONDecodeError"]),
        ("[" * 100_000 + "]" * 100_000, ["corrupt"]),  # RecursionError, not a crash
        ("[]", ["meta.json must be a JSON object", "list"]),
        ("null", ["meta.json must be a JSON object"]),
        ("", ["corrupt"]),
    ],
    ids=["not-utf8", "not-json", "deep-nesting", "list", "null", "empty"],
)
def test_unreadable_metadata(tmp_path, good, data, words):
    path = _write(tmp_path / "bad.zip", data, good[1])
    _refused(path, *words)


def test_zip_bomb_is_refused_before_it_is_read(tmp_path, good):
    meta, raw = good
    bomb = json.dumps(meta)[:-1] + ', "pad": "' + " " * (300 * 2**20) + '"}'
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.json", bomb)
        zf.writestr("tensors.pt", raw)
    del bomb
    assert path.stat().st_size < 2 * 2**20
    start = time.perf_counter()
    _refused(path, "meta.json would inflate to", "at most")
    assert time.perf_counter() - start < 1.0


def test_member_whose_header_understates_its_size_is_cut_off(tmp_path, good, monkeypatch):
    monkeypatch.setattr(ckpt_mod, "MAX_META_BYTES", 100)
    meta, raw = good
    path = _write(tmp_path / "big.zip", meta, raw)
    _refused(path, "meta.json would inflate to", "at most 100")


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(
    "extra, words",
    [
        ([("evil.py", b"import os")], ["members", "'evil.py'", "exactly"]),
        ([(f"m{i}", b"") for i in range(20)], ["announces 22 members", "at most 16"]),
        ([("meta.json", b"{}")], ["members", "exactly"]),  # a duplicate name
    ],
    ids=["extra-member", "many-members", "duplicate-member"],
)
def test_unexpected_members_are_refused(tmp_path, good, extra, words):
    meta, raw = good
    path = _write(tmp_path / "bad.zip", meta, raw, extra)
    _refused(path, *words)


def test_missing_member(tmp_path, good):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.json", json.dumps(good[0]))
    _refused(path, "members ['meta.json']")


def test_compressed_tensor_records_are_refused(tmp_path, good):
    meta, raw = good
    inner = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw)) as src,
        zipfile.ZipFile(inner, "w", compression=zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    path = _write(tmp_path / "bad.zip", meta, inner.getvalue())
    _refused(path, "is compressed", "uncompressed")


def _mutate(raw, fn):
    tensors = _tensors(raw)
    fn(tensors)
    return _raw(tensors)


def _poison(tensors, value):
    weight = tensors["policy"]["core.weight_hh"]
    weight[0, 0] = value


TENSOR_CASES = [
    ("nan-parameter", lambda t: _poison(t, float("nan")), ["policy.core.weight_hh", "NaN or inf"]),
    ("inf-parameter", lambda t: _poison(t, float("inf")), ["policy.core.weight_hh", "NaN or inf"]),
    ("nan-obs-stats", lambda t: t["policy"]["obs_mean"].fill_(float("nan")), ["policy.obs_mean"]),
    ("negative-obs-var", lambda t: t["policy"]["obs_var"].fill_(-1.0), ["obs_var >= 0"]),
    (
        "nan-critic",
        lambda t: t["gradient_critic"]["output.weight"].fill_(float("nan")),
        ["gradient_critic.output.weight"],
    ),
    (
        "nan-adam-state",
        lambda t: t["policy_optimizer"]["state"][0]["exp_avg"].fill_(float("nan")),
        ["policy_optimizer.state.0.exp_avg"],
    ),
    (
        "nan-lr",
        lambda t: t["policy_optimizer"]["param_groups"][0].update(lr=float("nan")),
        ["param_groups[0].lr", "nan"],
    ),
    (
        "huge-weight-decay",
        lambda t: t["policy_optimizer"]["param_groups"][0].update(weight_decay=1e9),
        ["weight_decay=1000000000.0", "configuration gives 0"],
    ),
    (
        "negative-eps",
        lambda t: t["sg_optimizer"]["param_groups"][0].update(eps=-1.0),
        ["sg_optimizer sets eps=-1.0"],
    ),
    (
        "unknown-group-key",
        lambda t: t["policy_optimizer"]["param_groups"][0].update(evil=1),
        ["unknown keys ['evil']"],
    ),
    ("no-param-groups", lambda t: t["policy_optimizer"].update(param_groups=[]), ["param_groups"]),
    ("nan-reward-rms", lambda t: t["reward_rms"].fill_(float("nan")), ["reward_rms", "NaN or inf"]),
    (
        "negative-reward-var",
        lambda t: t.update(reward_rms=torch.tensor([0.0, -1.0, 5.0], dtype=torch.float64)),
        ["reward_rms needs var >= 0"],
    ),
    (
        "reward-rms-shape",
        lambda t: t.update(reward_rms=torch.zeros(5)),
        ["reward_rms must have shape (3,)"],
    ),
    (
        "no-reward-rms",
        lambda t: t.pop("reward_rms"),
        ["normalize_reward=True but no reward statistics"],
    ),
    ("scale-shape", lambda t: t.update(sg_scale_sq=torch.ones(7)), ["sg_scale_sq has shape (7,)"]),
    (
        "nan-scale",
        lambda t: t.update(sg_scale_sq=torch.tensor(float("nan"))),
        ["sg_scale_sq", "NaN"],
    ),
    ("policy-not-dict", lambda t: t.update(policy=[1, 2]), ["policy must be a state dict", "list"]),
    ("missing-policy", lambda t: t.pop("policy"), ["it needs ['policy', 'policy_optimizer']"]),
    ("unknown-part", lambda t: t.update(hook=torch.zeros(1)), ["'hook'", "may hold"]),
    # obscure (2 of 2): after "does not match its configuration" the detail is torch's
    # load_state_dict text (size mismatch / missing key), which names the tensor.
    (
        "wrong-shape",
        lambda t: t["policy"].update({"core.weight_hh": torch.zeros(3, 3)}),
        ["does not match its configuration", "core.weight_hh"],
    ),
    (
        "missing-weight",
        lambda t: t["policy"].pop("value_net.bias"),
        ["does not match its configuration", "value_net.bias"],
    ),
]


@pytest.mark.parametrize(
    "fn, words", [c[1:] for c in TENSOR_CASES], ids=[c[0] for c in TENSOR_CASES]
)
def test_bad_tensors_are_refused_naming_the_part(tmp_path, good, fn, words):
    meta, raw = good
    path = _write(tmp_path / "bad.zip", meta, _mutate(raw, fn))
    _refused(path, *words)


def test_tensors_that_are_not_a_dict(tmp_path, good):
    path = _write(tmp_path / "bad.zip", good[0], _raw([torch.zeros(2)]))
    _refused(path, "tensors.pt must hold a dict", "list")


def test_checkpoint_with_diverged_parameters_is_refused_everywhere(tmp_path, good):
    """The refusal is in reading: load, load_agent and read_checkpoint (evaluate.py)."""
    meta, raw = good
    path = _write(tmp_path / "nan.zip", meta, _mutate(raw, lambda t: _poison(t, float("nan"))))
    for fn in (RecurrentA2C.load, load_agent, read_checkpoint):
        with pytest.raises(ValueError, match="cannot read checkpoint .*NaN or inf"):
            fn(path)


def test_saving_non_finite_parameters_is_refused_and_writes_nothing(tmp_path):
    model = RecurrentA2C("MlpRecurrentPolicy", cue_venv(), n_steps=4, hidden_size=8)
    with torch.no_grad():
        model.policy.value_net.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"cannot save .*policy.value_net.bias holds NaN"):
        model.save(tmp_path / "m.zip")
    assert list(tmp_path.iterdir()) == []


def test_ppo_file_keeps_its_own_option_checks(tmp_path):
    model = RecurrentPPO("MlpRecurrentPolicy", cue_venv(), n_steps=4, hidden_size=8, n_epochs=2)
    model.save(tmp_path / "p.zip")
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        meta, raw = json.loads(zf.read("meta.json")), zf.read("tensors.pt")
    path = _write(tmp_path / "bad.zip", _set(meta, "config.n_epochs", 0), raw)
    _refused(path, "n_epochs", ">= 1", cls=RecurrentPPO)
    path = _write(tmp_path / "bad2.zip", _set(meta, "config.n_epochs", 10**6), raw)
    _refused(path, "n_epochs", "at most 10000", cls=RecurrentPPO)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p.write_bytes(b""), ["corrupt", "end-of-directory"]),
        (lambda p: p.write_bytes(b"PK\x05\x06" + b"\0" * 18), ["members"]),
        (lambda p: p.mkdir(), ["is a folder"]),
    ],
    ids=["empty-file", "empty-zip", "folder"],
)
def test_not_a_checkpoint_file(tmp_path, make, words):
    path = tmp_path / "x.zip"
    make(path)
    _refused(path, *words)


def test_missing_file_says_no_such_file(tmp_path):
    _refused(tmp_path / "missing.zip", "no such file")


def test_zip64_record_announcing_many_entries_is_refused(tmp_path, good):
    meta, raw = good
    path = _write(tmp_path / "ok.zip", meta, raw)
    data = bytearray(path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    # a zip64 end record and locator claiming a million entries, before the end record
    record = b"PK\x06\x06" + (44).to_bytes(8, "little") + b"\0" * 12
    record += (10**6).to_bytes(8, "little") * 2 + (10**8).to_bytes(8, "little") * 2
    locator = b"PK\x06\x07" + b"\0" * 4 + eocd.to_bytes(8, "little") + (1).to_bytes(4, "little")
    path.write_bytes(bytes(data[:eocd]) + record + locator + bytes(data[eocd:]))
    _refused(path, "announces 1000000 members")


def test_the_untouched_file_and_an_allowed_optimizer_load(tmp_path, good):
    """Controls: the fixture's own file loads, and so does an allow-listed optimizer."""
    meta, raw = good
    assert RecurrentA2C.load(_write(tmp_path / "ok.zip", meta, raw)).num_timesteps == 16
    model = RecurrentA2C(
        "MlpRecurrentPolicy",
        cue_venv(),
        n_steps=4,
        hidden_size=8,
        policy_kwargs={"optimizer_class": torch.optim.SGD, "optimizer_kwargs": {"momentum": 0.9}},
    )
    model.save(tmp_path / "sgd.zip")
    loaded = RecurrentA2C.load(tmp_path / "sgd.zip")
    assert isinstance(loaded.policy.optimizer, torch.optim.SGD)
