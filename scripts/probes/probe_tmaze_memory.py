"""Probe what a trained T-maze agent remembers, and what its gradient critic predicts.

Runs the checkpoint's core along the two shortest walks of ``bpl/TMaze-v0`` (the cue
"up" or "down" at t = 0, the corridor at t = 1 .. L−1, the junction at t = J = L, where the
agent turns) and prints, at a few steps t:

* ``|dz|`` = ‖z_t^up − z_t^down‖: how much of the cue the state still holds. If it has
  decayed to ~0 by the junction, no credit assignment (BPTT included) can teach the
  turn: the exact gradient from the junction back to the cue is as small.
* with a gradient critic (``bp_lambda``/``dni`` checkpoints): ``cos`` between the
  critic's cue-dependent prediction σ(ĝ(z_t^up) − ĝ(z_t^down)) and the cue-dependent
  part of the future gradient for a policy guessing at the junction,
  D_t = −½ γ_g^{J−t} (v_t^up + v_t^down), v_t = ∂[log π(up|z_J) − log π(down|z_J)]/∂z_t
  (J = L, the junction step); and ``share``, the size of the cue-dependent part of
  ĝ relative to its cue-independent part ½‖ĝ(z_t^up) + ĝ(z_t^down)‖.

and the action probabilities at the junction for each cue.

    python scripts/probes/probe_tmaze_memory.py runs/<run>/final.zip --corridor-length 50
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

import envs  # noqa: F401  (registers bpl/*)
from agents import RecurrentA2C, RecurrentState
from bpl import cosine_similarity
from envs.tmaze import TMazeEnv


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint", help="a RecurrentA2C checkpoint trained on bpl/TMaze-v0")
    p.add_argument("--corridor-length", type=int, required=True, help="the maze's L (>= 1)")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    return p


def walk(model: RecurrentA2C, cue: int, length: int) -> list[torch.Tensor]:
    """States z_0 .. z_J (J = L) of the shortest walk for one cue, with graph."""
    policy = model.policy
    eye = np.eye(4, dtype=np.float32)
    obs = [eye[cue]] + [eye[TMazeEnv.OBS_CORRIDOR]] * (length - 1) + [eye[TMazeEnv.OBS_JUNCTION]]
    state = RecurrentState(torch.zeros(1, policy.state_size, device=model.device))
    zs = []
    for t, o in enumerate(obs):
        start = torch.tensor([1.0 if t == 0 else 0.0], device=model.device)
        state, _ = policy.step_core(torch.as_tensor(o, device=model.device)[None], state, start)
        zs.append(state.z)
    return zs


def probe(model: RecurrentA2C, length: int) -> dict:
    """The numbers described in the module docstring, as a dict."""
    policy = model.policy
    junction = length
    walks = {cue: walk(model, cue, length) for cue in (TMazeEnv.OBS_CUE_UP, TMazeEnv.OBS_CUE_DOWN)}
    up, down = walks[TMazeEnv.OBS_CUE_UP], walks[TMazeEnv.OBS_CUE_DOWN]
    v = []
    probs = {}
    for name, zs in (("up", up), ("down", down)):
        dist = policy.distribution(zs[junction]).distribution
        probs[name] = dist.probs[0].detach().cpu().tolist()
        logits = dist.logits[0]
        grads = torch.autograd.grad(logits[TMazeEnv.UP] - logits[TMazeEnv.DOWN], zs)
        v.append(grads)
    engine = model.credit_engine  # ĝ(z) in z's coordinates: engine.predict(z)
    steps = sorted({0, 1, 2, 4, 8, length // 2, length - 1, junction} & set(range(junction + 1)))
    rows = []
    for t in steps:
        row = {"t": t, "dz": float((up[t] - down[t]).detach().norm())}
        if engine.uses_critic:
            g_up, g_down = (engine.predict(z[t].detach()) for z in (up, down))
            d_hat = (g_up - g_down)[0]
            d_true = -0.5 * engine.sg_gamma ** (junction - t) * (v[0][t] + v[1][t])[0]
            row["cos"] = float(cosine_similarity(d_hat[None], d_true[None]))
            common = 0.5 * (g_up + g_down)[0]
            row["share"] = float(d_hat.norm() / (common.norm() + 1e-12))
        rows.append(row)
    return {"corridor_length": length, "junction_probs": probs, "steps": rows}


def main(argv: list[str] | None = None) -> int:
    """Load, probe, print; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.corridor_length < 1:
        print(f"error: --corridor-length must be >= 1, got {args.corridor_length}", file=sys.stderr)
        return 2
    try:
        model = RecurrentA2C.load(args.checkpoint, device="cpu")
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    shape = getattr(model.observation_space, "shape", None)
    if shape != (4,) or getattr(model.action_space, "n", None) != 3:
        print(
            f"error: {args.checkpoint} was not trained on bpl/TMaze-v0 (observation shape "
            f"{shape}, action space {model.action_space}); expected (4,) and Discrete(3)",
            file=sys.stderr,
        )
        return 2
    out = probe(model, args.corridor_length)
    fmt = lambda p: "[" + ", ".join(f"{x:.3f}" for x in p) + "]"  # noqa: E731
    probs = out["junction_probs"]
    print(f"T-maze L={args.corridor_length}: probabilities (forward, up, down) at the junction")
    print(f"  cue up: {fmt(probs['up'])}   cue down: {fmt(probs['down'])}")
    has_critic = "cos" in out["steps"][0]
    print("     t   |dz|" + ("      cos    share" if has_critic else ""))
    for row in out["steps"]:
        line = f"  {row['t']:4d}   {row['dz']:.2e}"
        if has_critic:
            line += f"   {row['cos']:+.3f}   {row['share']:.3g}"
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
