"""Showing what ``predict`` gives: one printed line per input row.

    islp-lab predict --config scripts/configs/imdb_dense.yaml --ckpt_path <run>/checkpoints/last.ckpt \\
        --data.init_args.predict_texts '["a wonderful film", "dull and long"]'

(``islp-lab predict`` adds this callback itself.)
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning import Callback, LightningModule, Trainer
from torch import Tensor


def describe(prediction: Tensor | float, task: str) -> str:
    """One row's prediction as a person reads it, from what ``SimpleModule.predict_step`` returns."""
    if task == "binary":  # a probability of the positive class
        return f"P(positive) = {float(prediction):.2f}"
    if task == "classification":  # a row of class probabilities
        label = int(prediction.argmax())
        return f"class {label} (p = {float(prediction[label]):.2f})"
    return f"prediction = {float(prediction):.4g}"


class PrintPredictions(Callback):
    """Print each predicted row as it comes: ``P(positive) = 0.87  "a wonderful film"``.

    A row is named by the data module's ``predict_texts`` when it has them (see
    :class:`~datamodules.imdb.IMDBDataModule`), else by its number. (A plain
    callback rather than a ``BasePredictionWriter``, which asks the loaders
    for batch indices that in-memory batches don't keep.)
    """

    def __init__(self) -> None:
        self._rows = 0

    def on_predict_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._rows = 0

    def on_predict_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        texts = getattr(trainer.datamodule, "predict_texts", None) if trainer.datamodule is not None else None
        task = getattr(pl_module, "task", "regression")
        for row in outputs.detach().cpu():
            # the data modules here give process r of w the rows r, r + w, r + 2w, ...
            index = trainer.global_rank + trainer.world_size * self._rows
            self._rows += 1
            name = f'"{texts[index]}"' if texts is not None and index < len(texts) else f"row {index}"
            print(f"{describe(row, task)}  {name}", flush=True)
