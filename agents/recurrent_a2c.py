"""Recurrent advantage actor-critic whose core learns by BP(λ), DNI, TBPTT, BPTT or
one-step gradients: one policy-gradient step per window (:mod:`agents.on_policy`)."""

from __future__ import annotations

from .on_policy import RecurrentOnPolicyAlgorithm
from .window import Pass, Window


class RecurrentA2C(RecurrentOnPolicyAlgorithm):
    """Recurrent A2C whose core assigns credit by one of :data:`agents.CREDIT_MODES`.

    Follows stable-baselines3's algorithm contract (``learn``, ``predict`` with a
    recurrent state, ``save``/``load``, callbacks, ``evaluate_policy``). Per rollout of
    ``n_steps`` steps (cut into truncation windows of ``window`` steps): one step on
    L = −Â_t log π(a_t|z_t) − c_H·H[π] + c_V (R_t − V)², the core's gradient given by
    ``credit``.

    Options (:class:`agents.config.AgentConfig`, keyword-only; each field's ``doc`` is
    its documentation, and ``scripts/train.py --help`` lists them):
    ``credit``, ``learning_rate`` (a float or an SB3 ``LinearSchedule`` /
    ``ConstantSchedule``, saved with the model; another callable is saved as its initial
    value, with a warning), ``n_steps``, ``window``, ``gamma``, ``gae_lambda``, ``ent_coef``,
    ``vf_coef``, ``max_grad_norm``, ``normalize_advantage``, ``normalize_reward``,
    ``core``, ``hidden_size``, the gradient critic's ``sg_gamma``, ``sg_lambda``,
    ``sg_beta``, ``sg_learning_rate``, ``sg_hidden_sizes``, ``sg_train_output_only``,
    ``sg_max_grad_norm``, ``sg_normalize``, ``sg_normalize_input``, the alignment probe's
    ``log_sg_cosine`` and ``sg_cosine_horizon``, ``max_bptt_steps`` and
    ``stats_window_size``.

    Threads: the recurrent nets here are small and latency-bound, so one torch thread is
    usually fastest; the scripts set it with :func:`agents.cli.set_threads`, and a
    program of your own should call ``torch.set_num_threads(1)`` (or that function)
    before training.

    :param policy: ``"MlpRecurrentPolicy"`` (core from ``core``, default GRU),
        ``"MlpGruPolicy"``, ``"MlpLstmPolicy"`` or a :class:`RecurrentActorCriticPolicy`
        subclass; a policy with a fixed core and a different ``core`` is a ValueError.
    :param env: a Gymnasium env, a registered id (``module:EnvId-v0`` allowed) or a VecEnv.
    :param tensorboard_log: TensorBoard folder (None: no TensorBoard).
    :param policy_kwargs: extra arguments for the policy (``encoder_size``, ``head_size``,
        ``chrono_max``, ``gate_bias``, ``log_std_init``, ``ortho_init``,
        ``optimizer_class``, ``optimizer_kwargs``).
    :param verbose: 0 silent, 1 training logs on stdout.
    :param seed: random seed.
    :param device: torch device (``"auto"``: CUDA when available).
    :param options: the options above.
    """

    def _update(self, window: Window, seq: tuple) -> Pass:
        """One pass: the policy-gradient step, the critic learning from it."""
        p = self._forward(window, seq, jacobian=True)
        tg = self._targets(window, p)
        policy_loss = -(tg.advantages * p.log_prob).mean()
        k = self._window_len(window)
        self._gradient_step(p, tg, policy_loss, None, k, learn_credit=window)
        return p


__all__ = ["RecurrentA2C"]
