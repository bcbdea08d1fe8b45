"""``islp-lab``: the Trainer CLI (LightningCLI) over any lab's network and data module.

    islp-lab fit --config scripts/configs/hitters.yaml
    islp-lab fit --config scripts/configs/hitters.yaml --trainer.max_epochs 3 --trainer.accelerator cpu
    islp-lab test --config scripts/configs/hitters.yaml --ckpt_path logs/hitters/mlp/version_0/checkpoints/last.ckpt
    islp-lab fit --config scripts/configs/hitters.yaml --print_config > my.yaml
    islp-lab fit --config scripts/configs/hitters.yaml --ckpt_path last     # continue an interrupted run

A config names the network (``model.model.class_path``), the task and
optimizer of :class:`~lightning_modules.module.SimpleModule`, the data module
(``data.class_path``), and where the CSV logs go (``trainer.logger``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import torch
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from datamodules.base import InMemoryDataModule
from lightning_modules.errors import USER_ERRORS, exit_status
from lightning_modules.module import SimpleModule
from lightning_modules.predictions import PrintPredictions
from lightning_modules.trainer import (
    DEFAULT_CALLBACKS,
    check_accelerator,
    end_distributed,
    latest_version,
    quiet_lightning,
)

#: where the configs' logs go unless --trainer.default_root_dir says otherwise
DEFAULT_LOG_DIR = "logs"

#: what ``make_trainer`` gives the lab scripts, as config: the same logs, callbacks and determinism
TRAINER_DEFAULTS = {
    "deterministic": True,
    "num_sanity_val_steps": 0,
    "logger": {"class_path": "lightning_modules.trainer.ResumableCSVLogger", "init_args": {"save_dir": DEFAULT_LOG_DIR, "name": "lab"}},
    "callbacks": [component.config() for component in DEFAULT_CALLBACKS],
}


class LabCLI(LightningCLI):
    """LightningCLI with the project's Trainer defaults, an accelerator check and a thread count."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--torch_threads", type=int | None, default=None, help="CPU threads for torch (small networks: 1)"
        )
        # defaults in the parser (not trainer_defaults) so --print_config shows them and a config can change them
        parser.set_defaults({f"trainer.{key}": value for key, value in TRAINER_DEFAULTS.items()})
        parser.set_defaults({"trainer.enable_progress_bar": sys.stderr.isatty()})

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        accelerator = config.trainer.accelerator
        if isinstance(accelerator, str):
            check_accelerator(accelerator)
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        self._logs_under_root_dir(config.trainer)
        if self.subcommand == "fit" and config.get("ckpt_path") == "last":
            self._reopen_latest_version(config.trainer.logger)

    def before_predict(self) -> None:
        """``predict`` prints each prediction (e.g. the probability that a review is positive)."""
        if not any(isinstance(callback, PrintPredictions) for callback in self.trainer.callbacks):
            self.trainer.callbacks.append(PrintPredictions())

    @staticmethod
    def _logs_under_root_dir(trainer: Any) -> None:
        """``--trainer.default_root_dir D`` moves the configs' logs from ``logs/<lab>`` to ``D/<lab>``."""
        root, init_args = trainer.get("default_root_dir"), getattr(trainer.logger, "init_args", None)
        if not root or init_args is None or "save_dir" not in init_args:
            return
        save_dir = Path(init_args.save_dir)
        if not save_dir.is_absolute() and save_dir.parts[:1] == (DEFAULT_LOG_DIR,):
            init_args.save_dir = str(Path(root, *save_dir.parts[1:]))

    @staticmethod
    def _reopen_latest_version(logger: Any) -> None:
        """``fit --ckpt_path last`` continues the latest run: log into its version, resume its ``last.ckpt``."""
        init_args = getattr(logger, "init_args", None)
        if init_args is None or init_args.get("version") is not None or "save_dir" not in init_args:
            return
        init_args.version = latest_version(init_args.save_dir, init_args.get("name") or "lightning_logs")


def main(args: Sequence[str] | None = None) -> None:
    quiet_lightning()
    try:
        LabCLI(
            SimpleModule,
            InMemoryDataModule,
            subclass_mode_data=True,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            args=args,
        )
    except USER_ERRORS as error:
        print(f"islp-lab: error: {error}", file=sys.stderr)
        sys.exit(exit_status(error))
    finally:
        end_distributed()


if __name__ == "__main__":
    main()
