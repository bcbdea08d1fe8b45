"""The generic Lightning module, the labs' networks, callbacks, Trainer factory, CLI and curves."""

from lightning_modules.callbacks import ErrorTracker, NonFiniteLossError
from lightning_modules.module import SimpleModule
from lightning_modules.trainer import make_trainer

__all__ = ["ErrorTracker", "NonFiniteLossError", "SimpleModule", "make_trainer"]
