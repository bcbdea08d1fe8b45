"""The generic Lightning module, the labs' networks, callbacks, Trainer factory, CLI and curves.

The book's names are here, so its lab runs with one import line changed
(``from ISLP.torch import ...`` becomes ``from lightning_modules import ...``).
"""

from datamodules.base import rec_num_workers
from datamodules.simple import SimpleDataModule
from lightning_modules.callbacks import ErrorTracker, NonFiniteLossError
from lightning_modules.curves import summary_plot
from lightning_modules.module import SimpleModule
from lightning_modules.trainer import make_trainer

__all__ = [
    "ErrorTracker",
    "NonFiniteLossError",
    "SimpleDataModule",
    "SimpleModule",
    "make_trainer",
    "rec_num_workers",
    "summary_plot",
]
