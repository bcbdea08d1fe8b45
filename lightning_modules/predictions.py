"""Showing what ``predict`` gives: one printed line per input row.

    islp-lab predict --config scripts/configs/imdb_dense.yaml --ckpt_path <run>/checkpoints/last.ckpt \\
        --data.init_args.predict_texts '["a wonderful film", "dull and long"]'

(``islp-lab predict`` adds this callback itself.) :func:`print_scores` does the same for
a network at hand (``lab_imdb.py --predict``), a batch of reviews at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

import torch
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

    A row is named by its text when the batch carries the texts after the features (a
    review file's batches do), else by the data module's ``predict_texts`` when it has them
    (see :class:`~datamodules.imdb.IMDBDataModule`), else by its number. (A plain
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
        own = batch_texts(batch)
        task = getattr(pl_module, "task", "regression")
        for position, row in enumerate(outputs.detach().cpu()):
            # the data modules here give process r of w the rows r, r + w, r + 2w, ...
            index = trainer.global_rank + trainer.world_size * self._rows
            self._rows += 1
            if own is not None:
                name = f'"{own[position]}"'
            else:
                name = f'"{texts[index]}"' if texts is not None and index < len(texts) else f"row {index}"
            print(f"{describe(row, task)}  {name}", flush=True)


def batch_texts(batch: Any) -> Sequence[str] | None:
    """The texts a batch carries after its features (``(features, texts)``), or None."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], (tuple, list)):
        texts = batch[1]
        if all(isinstance(text, str) for text in texts):
            return texts
    return None


def print_scores(
    module: LightningModule, encode: Callable[[list[str]], Tensor], reviews: Iterable[str], batch_size: int = 512
) -> list[float]:
    """Score ``reviews`` a batch at a time and print each as it is scored: ``P(positive) = 0.87  "a wonderful film"``.

    ``encode`` turns a list of texts into the network's features (``IMDBDataModule.encode``); only one
    batch of features is held at once, so memory stays flat however many reviews a file holds.
    Returns the probabilities, in order.
    """
    reviews, probabilities = iter(reviews), []
    module.eval()
    while batch := list(islice(reviews, batch_size)):
        with torch.no_grad():
            scores = module.predict_step((encode(batch),), 0).tolist()
        print("\n".join(f'{describe(score, "binary")}  "{text}"' for text, score in zip(batch, scores)), flush=True)
        probabilities.extend(scores)
    return probabilities
