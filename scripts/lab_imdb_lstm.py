"""Lab 10.9.6: IMDB sentiment from word sequences, an LSTM reading the last 500 words of each review.

Run: python scripts/lab_imdb_lstm.py [--max-epochs 20] [--data-dir data] [--synthetic] [--limit N]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightning_modules.labs import NETWORKS, book_figures
from runner import (
    fit_seeds,
    is_global_zero,
    lab_parser,
    prepare,
    results_table,
    run,
    save_model_curves,
    synthetic_notice,
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
    def built(seed: int):  # the network and data module of seed (the data module above for --seed)
        data = datamodule if seed == args.seed else LSTM.build_datamodule(
            data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=seed
        )
        return LSTM.build_module(LSTM.network.build(num_words=datamodule.num_columns)), data

    models = {"lstm": fit_seeds(args, LSTM, built, summary_input=(datamodule.batch_size, datamodule.max_length),
                                summary_dtypes=[torch.int64])}

    if is_global_zero():
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
