"""Lab 10.9.6: IMDB sentiment from word sequences, an LSTM reading the last 500 words of each review.

Run: python scripts/lab_imdb_lstm.py [--max-epochs 20] [--data-dir data] [--synthetic] [--limit N]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pytorch_lightning import seed_everything

from lightning_modules import make_trainer
from lightning_modules.labs import NETWORKS, book_figures
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_record, synthetic_notice
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

LAB = "imdb_lstm"
LSTM = NETWORKS["imdb_lstm"]  # the book's settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], LSTM, data=True).parse_args(argv)
    prepare(args)

    # Embedding(10003, 32) -> LSTM(32) -> one logit from the last step; RMSprop with its default lr 0.01.
    runs = []
    for seed in seeds(args):
        seed_everything(seed, workers=True, verbose=False)
        # each review as its last 500 word indices, zero pre-padded
        datamodule = LSTM.build_datamodule(data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=seed)
        network = LSTM.network.build(num_words=datamodule.num_columns)
        if not runs:
            print_summary(network, input_size=(datamodule.batch_size, datamodule.max_length), dtypes=[torch.int64])
        module = LSTM.build_module(network)
        trainer = make_trainer(LAB, "lstm", seed=seed, **trainer_options(args))
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
        (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
        runs.append(run_record(trainer, test, seed))
    models = {"lstm": over_seeds(runs)}

    if trainer.is_global_zero:
        # results first: a figure that fails to save (a full disk) then loses none of them
        results = write_results(args.log_dir, LAB, models, book=book_figures(LAB), figure="test_accuracy", synthetic=args.synthetic)
        print(results_table([("lstm", "test accuracy", models["lstm"]["test_accuracy"], book_figures(LAB)["lstm"])]))
        if args.synthetic:
            print(synthetic_notice("IMDB"))
        print(f"results: {results}")
        figure = save_model_curves(models["lstm"], "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/lstm_curves.png")
        print(f"curves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
