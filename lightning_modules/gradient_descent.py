"""Exercise 10.10.6: gradient descent on R(β) = sin β + β/10, with torch's autograd and SGD.

The same two steps that train every network of the chapter (``loss.backward()``,
``optimizer.step()``), on one parameter whose path can be drawn.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def objective(beta: Tensor | np.ndarray | float) -> Tensor | np.ndarray | float:
    """R(β) = sin β + β/10 (for a tensor, an array or a number)."""
    sin = torch.sin if isinstance(beta, Tensor) else np.sin
    return sin(beta) + beta / 10


def gradient_descent(start: float, lr: float = 0.1, tolerance: float = 1e-6, max_steps: int = 10_000) -> np.ndarray:
    """Every iterate β⁰, β¹, ... of gradient descent on :func:`objective` from ``start``.

    Each step is ``β ← β − lr · dR/dβ``, the derivative by autograd and the step by
    ``torch.optim.SGD``; it stops once a step moves β by less than ``tolerance``
    (or after ``max_steps`` steps).
    """
    beta = torch.tensor(float(start), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([beta], lr=lr)
    iterates = [beta.item()]
    for _ in range(max_steps):
        optimizer.zero_grad()
        objective(beta).backward()
        optimizer.step()
        iterates.append(beta.item())
        if abs(iterates[-1] - iterates[-2]) < tolerance:
            break
    return np.array(iterates)
