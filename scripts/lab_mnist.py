"""Lab 10.9.2: a multilayer network and multinomial logistic regression on the MNIST digits.

Run: python scripts/lab_mnist.py [--data-dir data] [--max-epochs 30] [--accelerator cpu] [--log-dir logs]
     python scripts/lab_mnist.py --synthetic --limit 2000 --max-epochs 2   (offline: the figures mean nothing)
"""

from __future__ import annotations

from collections.abc import Sequence

from datamodules.mnist import MNISTDataModule
from lightning_modules.labs import (
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
from lightning_modules.module import SimpleModule
from lightning_modules.networks import MNISTLogistic, MNISTMLP

LAB = "mnist"
#: the book's stored-notebook test accuracies (GUIDE.md's bands: MLP 0.962-0.966, MLR 0.916-0.924)
BOOK = {"mlp": 0.9648, "mlr": 0.9219}
SYNTHETIC_WARNING = synthetic_notice("MNIST")


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], epochs=30, data=True).parse_args(argv)
    prepare(args)
    if args.synthetic:
        print(SYNTHETIC_WARNING, flush=True)

    # 60,000 training images (20% held out for validation) and 10,000 test images, 28 x 28, in [0, 1].
    datamodule = MNISTDataModule(
        data_dir=args.data_dir, batch_size=256, synthetic=args.synthetic, limit=args.limit, seed=args.seed
    )

    # The multilayer network: 784-256-128-10 with dropout, RMSprop at lr 0.01 as the book.
    mlp = MNISTMLP()
    print_summary(mlp, input_size=(256, 1, 28, 28))
    module = SimpleModule.classification(mlp, num_classes=10)
    models = {"mlp": fit_and_test(module, datamodule, trainer_for(args, LAB, "mlp"))}

    # Multinomial logistic regression: the same images through one linear layer.
    mlr = MNISTLogistic()
    print_summary(mlr, input_size=(256, 1, 28, 28))
    module = SimpleModule.classification(mlr, num_classes=10)
    trainer = trainer_for(args, LAB, "mlr")
    models["mlr"] = fit_and_test(module, datamodule, trainer)

    if trainer.is_global_zero:
        for name in models:
            save_curves(models[name]["log_dir"], "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/{name}_curves.png")
        rows = [(name, "test accuracy", figures["test_accuracy"], BOOK[name]) for name, figures in models.items()]
        print(results_table(rows))
        if args.synthetic:
            print(SYNTHETIC_WARNING)
        results = write_results(
            args.log_dir, LAB, models, book=BOOK, figure="test_accuracy", synthetic=args.synthetic
        )
        print(f"curves: {args.log_dir}/{LAB}/*_curves.png\nresults: {results}")
    return models


if __name__ == "__main__":
    run(main)
