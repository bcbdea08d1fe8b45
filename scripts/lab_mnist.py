"""Lab 10.9.2: a multilayer network and multinomial logistic regression on the MNIST digits.

Run: python scripts/lab_mnist.py [--data-dir data] [--max-epochs 30] [--accelerator cpu] [--log-dir logs]
     python scripts/lab_mnist.py --synthetic --limit 2000 --max-epochs 2   (offline: the figures mean nothing)
"""

from __future__ import annotations

from collections.abc import Sequence

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

LAB = "mnist"
# the book's settings: data, networks, optimizer, epochs (lightning_modules/labs.py)
MLP, MLR = NETWORKS["mnist_mlp"], NETWORKS["mnist_mlr"]
SYNTHETIC_WARNING = synthetic_notice("MNIST")


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], MLP, data=True).parse_args(argv)
    prepare(args)
    if args.synthetic:
        print(SYNTHETIC_WARNING, flush=True)

    # 60,000 training images (20% held out for validation) and 10,000 test images, 28 x 28, in [0, 1].
    datamodule = MLP.build_datamodule(data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=args.seed)

    # The multilayer network: 784-256-128-10 with dropout, RMSprop at lr 0.01 as the book.
    def data(seed: int):  # the data module of seed (the one above for --seed; it loads once)
        return datamodule if seed == args.seed else MLP.build_datamodule(
            data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=seed
        )

    batch = (datamodule.batch_size, 1, 28, 28)
    models = {"mlp": fit_seeds(args, MLP, lambda seed: (MLP.build_module(), data(seed)), summary_input=batch)}

    # Multinomial logistic regression: the same images through one linear layer.
    models["mlr"] = fit_seeds(args, MLR, lambda seed: (MLR.build_module(), data(seed)), summary_input=batch)

    if is_global_zero():
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures(LAB)
        results = write_results(
            args.log_dir, LAB, models, book=book, figure="test_accuracy", synthetic=args.synthetic
        )
        rows = [(name, "test accuracy", figures["test_accuracy"], book[name]) for name, figures in models.items()]
        print(results_table(rows))
        if args.synthetic:
            print(SYNTHETIC_WARNING)
        print(f"results: {results}")
        for name in models:
            figure = save_model_curves(models[name], "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/{name}_curves.png")
            print(f"curves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
