"""L2: pluggable models that turn features into p, the probability the price goes up.

A model is any object with ``async predict(inputs) -> float``; ``build_model(config)`` looks its
``name`` up in ``MODELS`` (register more with ``register``). ``run_model`` applies the config's
timeout: a model that raises, answers late, answers outside [0, 1], or lacks an input is
*unavailable*, and the decision then uses ``fallback_p`` or skips (MODEL_UNAVAILABLE).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from chimera.config.strategy import ModelConfig

log = logging.getLogger(__name__)

Inputs = Mapping[str, float | int | bool | str | Decimal | None]


class ModelUnavailable(Exception):
    """The model cannot give a probability for these inputs (missing input, bad output)."""


class Model(Protocol):
    """What S3 asks of a model."""

    async def predict(self, inputs: Inputs) -> float:
        """Return p in [0, 1]; raise ``ModelUnavailable`` when it cannot."""
        ...


@dataclass(frozen=True)
class LogisticModel:
    """p = 1 / (1 + exp(-(intercept + sum of coefficient * input))), inputs by name."""

    intercept: float
    coefficients: Mapping[str, float]

    async def predict(self, inputs: Inputs) -> float:
        """Return the logistic of the linear score; unavailable if an input is unknown."""
        score = self.intercept
        for name, weight in self.coefficients.items():
            value = inputs.get(name)
            if value is None or isinstance(value, str):
                raise ModelUnavailable(f"input {name!r} is not known for this signal")
            score += weight * float(value)
        if not math.isfinite(score):
            raise ModelUnavailable(f"score is not finite ({score})")
        # Split by sign so exp never overflows.
        if score >= 0:
            return 1.0 / (1.0 + math.exp(-score))
        z = math.exp(score)
        return z / (1.0 + z)


ModelFactory = Callable[[ModelConfig], Model]


def _logistic(config: ModelConfig) -> Model:
    return LogisticModel(config.intercept, dict(config.coefficients))


MODELS: dict[str, ModelFactory] = {"logistic": _logistic}


def register(name: str, factory: ModelFactory) -> None:
    """Make ``strategy.model.name: <name>`` build its model with ``factory``."""
    MODELS[name] = factory


def build_model(config: ModelConfig) -> Model:
    """Build the configured model; ``ValueError`` naming the known ones if it is unknown."""
    try:
        factory = MODELS[config.name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {config.name!r} (known: {known})") from None
    return factory(config)


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """``p`` (None: unavailable), whether it is the fallback, and why it fell back."""

    p: float | None
    fallback: bool
    problem: str = ""


async def run_model(model: Model, inputs: Inputs, config: ModelConfig) -> ModelAnswer:
    """Ask ``model`` under ``config.timeout_ms``; fall back to ``config.fallback_p`` if it fails.

    A model that computes synchronously cannot be interrupted, so its answer is also discarded
    when it arrives after the timeout: late is unavailable either way.
    """
    timeout_s = config.timeout_ms / 1000
    started = time.perf_counter()
    problem = ""
    try:
        p = await asyncio.wait_for(model.predict(inputs), timeout_s)
        if time.perf_counter() - started > timeout_s:
            problem = f"answered after {config.timeout_ms} ms"
        elif not (isinstance(p, float | int) and 0.0 <= p <= 1.0):
            problem = f"answered {p!r}, not a probability"
        else:
            return ModelAnswer(float(p), False)
    except TimeoutError:
        problem = f"no answer within {config.timeout_ms} ms"
    except ModelUnavailable as exc:
        problem = str(exc)
    except Exception as exc:  # a plugged model's bug must not stop decisions
        log.warning("model %s failed: %r", config.name, exc)
        problem = f"failed: {exc!r}"
    return ModelAnswer(config.fallback_p, config.fallback_p is not None, problem)


__all__ = [
    "MODELS",
    "LogisticModel",
    "Model",
    "ModelAnswer",
    "ModelUnavailable",
    "build_model",
    "register",
    "run_model",
]
