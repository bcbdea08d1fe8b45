"""Lab 10.9.2: a multilayer network and multinomial logistic regression on the MNIST digits.

Run: python scripts/lab_mnist.py [--data-dir data] [--max-epochs 30] [--seeds 3 [--jobs 2]] [--accelerator cpu] [--log-dir logs]
     python scripts/lab_mnist.py --synthetic --limit 2000 --max-epochs 2   (offline: the figures mean nothing)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial

from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only

from lightning_modules import make_trainer
from lightning_modules.labs import NETWORKS, book_figures
from lightning_modules.parallel import for_each_seed
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_record, synthetic_notice
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options

LAB = "mnist"
# the book's settings: data, networks, optimizer, epochs (lightning_modules/labs.py)
MLP, MLR = NETWORKS["mnist_mlp"], NETWORKS["mnist_mlr"]
# the multilayer network: 784-256-128-10 with dropout; multinomial logistic regression: one linear layer
NETWORKS_OF_LAB = {"mlp": MLP, "mlr": MLR}
SYNTHETIC_WARNING = synthetic_notice("MNIST")


def train_one_seed(seed: int, args: argparse.Namespace) -> dict[str, dict]:
    """Both networks trained and tested once, with ``seed``, on the same split: the book's lab as it reads."""
    # 60,000 training images (20% held out for validation) and 10,000 test images, 28 x 28, in [0, 1]
    datamodule = MLP.build_datamodule(data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=seed)
    runs = {}
    for name, settings in NETWORKS_OF_LAB.items():
        seed_everything(seed, workers=True, verbose=False)
        module = settings.build_module()
        trainer = make_trainer(LAB, name, seed=seed, **trainer_options(args))
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
        (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
        runs[name] = run_record(trainer, test, seed)
    return runs


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], MLP, data=True, parallel_seeds=True).parse_args(argv)
    prepare(args)
    if args.synthetic:
        print(SYNTHETIC_WARNING, flush=True)

    for settings in NETWORKS_OF_LAB.values():
        print_summary(settings.build_network(), input_size=(settings.data.init_args["batch_size"], 1, 28, 28))
    # both networks once per seed (several seeds at once with --jobs: lightning_modules/parallel.py)
    runs = for_each_seed(partial(train_one_seed, args=args), seeds(args), **seed_jobs(args))
    models = {name: over_seeds([run[name] for run in runs]) for name in NETWORKS_OF_LAB}

    if rank_zero_only.rank == 0:
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
