"""The state machine of one supervised child (after supervisord's process states).

STARTING --Ready--> RUNNING --exit/missed heartbeat--> BACKOFF --delay--> STARTING
    |                  |                                  |
    | BootFailed /     | Stop requested                   | too many quick failures
    v exit, first boot v                                  v
  FATAL             STOPPING --exit--> EXITED            FATAL
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    STARTING = "starting"  # spawned, boot message sent, waiting for Ready
    RUNNING = "running"  # Ready received; heartbeats arriving in time
    BACKOFF = "backoff"  # exited unexpectedly; waiting before the next start
    STOPPING = "stopping"  # Stop sent (drain), waiting for exit until the deadline, then KILL
    EXITED = "exited"  # stopped on purpose
    FATAL = "fatal"  # cannot be (re)started: the daemon stops


# Moves the supervisor allows; anything else is a bug in the supervisor, not the child.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STARTING: frozenset({State.RUNNING, State.BACKOFF, State.FATAL, State.STOPPING}),
    State.RUNNING: frozenset({State.BACKOFF, State.STOPPING}),
    State.BACKOFF: frozenset({State.STARTING, State.FATAL, State.STOPPING, State.EXITED}),
    State.STOPPING: frozenset({State.EXITED}),
    State.EXITED: frozenset(),
    State.FATAL: frozenset(),
}


class InvalidTransition(RuntimeError):
    pass


def check_transition(old: State, new: State) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"{old.value} -> {new.value}")


def backoff_delay(failures: int, base: float = 0.1, cap: float = 10.0) -> float:
    """Exponential backoff between restarts of a child that keeps crashing."""
    return float(min(cap, base * (2 ** max(0, failures - 1))))
