"""Exercise 10.10.6: gradient descent on R(β) = sin β + β/10, with torch's autograd and SGD.

The same two steps that train every network of the chapter (``loss.backward()``,
``optimizer.step()``), on one parameter whose path can be drawn.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from foundations.errors import BadArgumentError

#: |dR/dβ| below which a descent that has stopped moving is at a stationary point (an answer)
FLAT = 1e-3


def objective(beta: Tensor | np.ndarray | float) -> Tensor | np.ndarray | float:
    """R(β) = sin β + β/10 (for a tensor, an array or a number)."""
    sin = torch.sin if isinstance(beta, Tensor) else np.sin
    return sin(beta) + beta / 10


def check_descent_arguments(start: float, lr: float) -> None:
    """Refuse (:class:`BadArgumentError`) a start or learning rate no descent can use: not finite, or a rate not above 0."""
    if not math.isfinite(lr) or lr <= 0:
        raise BadArgumentError(f"the learning rate must be a finite number above 0, got {lr}; the exercise's is 0.1")
    if not math.isfinite(start):
        raise BadArgumentError(f"a start β⁰ must be a finite number, got {start}; the exercise's are 2.3 and 1.4")


def gradient_descent(start: float, lr: float = 0.1, tolerance: float = 1e-6, max_steps: int = 10_000) -> np.ndarray:
    """Every iterate β⁰, β¹, ... of gradient descent on :func:`objective` from ``start``.

    Each step is ``β ← β − lr · dR/dβ``, the derivative by autograd and the step by
    ``torch.optim.SGD``; it stops once a step moves β by less than ``tolerance`` where
    the slope is flat (|dR/dβ| < :data:`FLAT`). A descent that gives no answer is refused
    (:class:`BadArgumentError`, one line): β overflowing, β that does not move where the
    slope is not flat (a rate or a start too small or too large for the precision of β),
    or no stop within ``max_steps`` steps.
    """
    check_descent_arguments(start, lr)
    beta = torch.tensor(float(start), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([beta], lr=lr)
    iterates = [beta.item()]
    for step in range(1, max_steps + 1):
        optimizer.zero_grad()
        objective(beta).backward()
        slope = beta.grad.item()
        optimizer.step()
        iterates.append(beta.item())
        moved = abs(iterates[-1] - iterates[-2])
        if not math.isfinite(iterates[-1]):
            raise BadArgumentError(
                f"gradient descent from β⁰ = {start:g} at learning rate {lr:g} overflows at step {step} "
                f"(β = {iterates[-2]:.4g} became {iterates[-1]}): give a smaller learning rate, e.g. 0.1"
            )
        if moved < tolerance and abs(slope) < FLAT:
            return np.array(iterates)
        if moved == 0:
            raise BadArgumentError(
                f"gradient descent from β⁰ = {start:g} at learning rate {lr:g} never moves: a step of {lr * abs(slope):.2g} "
                f"is lost in the precision of β = {iterates[-1]:.6g}: give a larger learning rate or a start nearer 0 "
                "(the exercise's: 0.1, from 2.3 and 1.4)"
            )
    raise BadArgumentError(
        f"gradient descent from β⁰ = {start:g} at learning rate {lr:g} does not settle in {max_steps:,} steps "
        f"(β = {iterates[-1]:.6g}, dR/dβ = {math.cos(iterates[-1]) + 0.1:.2g} there): "
        f"give a {'larger' if lr < 0.1 else 'smaller'} learning rate, e.g. 0.1"
    )
