"""Lab 10.9.6: IMDB sentiment from word sequences, an LSTM reading the last 500 words of each review.

Run: python scripts/lab_imdb_lstm.py [--max-epochs 20] [--data-dir data] [--synthetic] [--limit N]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightning_modules.labs import NETWORKS, book_figures
from runner import (
    fit_and_test,
    lab_parser,
    prepare,
    print_summary,
    results_table,
    run,
    save_curves,
    synthetic_notice,
    trainer_for,
    write_results,
)

LAB = "imdb_lstm"
LSTM = NETWORKS["imdb_lstm"]  # the book's settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], LSTM, data=True).parse_args(argv)
    prepare(args)

    # Each review as its last 500 word indices, zero pre-padded.
    datamodule = LSTM.build_datamodule(data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=args.seed)

    # Embedding(10003, 32) -> LSTM(32) -> one logit from the last step; RMSprop with its default lr 0.01.
    lstm = LSTM.network.build(num_words=datamodule.num_columns)
    print_summary(lstm, input_size=(datamodule.batch_size, datamodule.max_length), dtypes=[torch.int64])
    module = LSTM.build_module(lstm)
    trainer = trainer_for(args, LSTM)
    models = {"lstm": fit_and_test(module, datamodule, trainer)}

    if trainer.is_global_zero:
        figure = save_curves(models["lstm"]["log_dir"], "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/lstm_curves.png")
        print(results_table([("lstm", "test accuracy", models["lstm"]["test_accuracy"], book_figures(LAB)["lstm"])]))
        if args.synthetic:
            print(synthetic_notice("IMDB"))
        results = write_results(args.log_dir, LAB, models, book=book_figures(LAB), figure="test_accuracy", synthetic=args.synthetic)
        print(f"curves: {figure}\nresults: {results}")
    return models


if __name__ == "__main__":
    run(main)
