"""envs — partially observable Gymnasium environments for recurrent agents.

Importing the package registers the ids of :data:`BPL_ENV_IDS` (namespace ``bpl/``)::

    import gymnasium as gym
    import envs  # noqa: F401  (registers bpl/*)

    env = gym.make("bpl/TMaze-v0", corridor_length=50)
    env = gym.make("envs:bpl/CartPoleNoVel-v1")  # imports envs itself

Memory tasks: ``bpl/TMaze-v0`` (one bit for a long time), ``bpl/TMazeStream-v0``
(T-maze trials back to back, never reset), ``bpl/RepeatPrevious-v0``
(a sliding window, dense reward), ``bpl/MemoryChain-v0`` (one of several bits, Discrete
observations); control without velocities: ``bpl/CartPoleNoVel-v1``,
``bpl/PendulumNoVel-v1``. Depends on gymnasium and numpy only.
"""

from .cartpole_novel import CartPoleNoVelEnv
from .memory_chain import MemoryChainEnv
from .pendulum_novel import PendulumNoVelEnv
from .registry import BPL_ENV_IDS, UnknownEnvError, register_envs, resolve_env_id
from .repeat_previous import RepeatPreviousEnv
from .tmaze import TMazeEnv
from .tmaze_stream import TMazeStreamEnv

register_envs()

__all__ = [
    "BPL_ENV_IDS",
    "CartPoleNoVelEnv",
    "MemoryChainEnv",
    "PendulumNoVelEnv",
    "RepeatPreviousEnv",
    "TMazeEnv",
    "TMazeStreamEnv",
    "UnknownEnvError",
    "register_envs",
    "resolve_env_id",
]
