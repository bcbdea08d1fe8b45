"""Lab 10.9.3: a convolutional network on the CIFAR100 images.

Run: python scripts/lab_cifar100.py [--data-dir data] [--max-epochs 30] [--augment] [--accelerator cuda] [--log-dir logs]
     python scripts/lab_cifar100.py --synthetic --limit 5000 --max-epochs 3   (offline: the figures mean nothing)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pytorch_lightning import seed_everything
from torch import Tensor

from datamodules.images import to_float
from lightning_modules import make_trainer
from lightning_modules.curves import save_figure
from lightning_modules.labs import NETWORKS, book_figures
from lightning_modules.results import figure_errors, publish, results_table, save_model_curves, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_folders, run_record, synthetic_notice
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

LAB = "cifar100"
CNN = NETWORKS["cifar100_cnn"]  # the book's settings: data, network, optimizer, epochs (lightning_modules/labs.py)
SYNTHETIC_WARNING = synthetic_notice("CIFAR100")


def save_sample_images(images: Tensor, labels: Tensor, classes: list[str], output: str | Path, title: str) -> Path:
    """The book's look at the data: a 5 x 5 grid of float images (N, 3, H, W) in [0, 1], each with its class."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(5, 5, figsize=(10, 11))
    for ax, image, label in zip(axes.flat, images, labels):
        ax.imshow(image.permute(1, 2, 0).numpy(), interpolation=None)
        ax.set_title(classes[int(label)], fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=14)
    return save_figure(fig, output)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = lab_parser(__doc__.splitlines()[0], CNN, data=True)
    parser.add_argument(
        "--augment", action="store_true", help="random crops and flips of the training images (not in the book)"
    )
    args = parser.parse_args(argv)
    prepare(args)
    if args.synthetic:
        print(SYNTHETIC_WARNING, flush=True)

    # Four blocks of convolution, ReLU and max-pooling, then dropout and two dense layers; RMSprop at lr 0.001.
    print_summary(CNN.build_network(), input_size=(CNN.data.init_args["batch_size"], 3, 32, 32))
    runs = []
    for seed in seeds(args):
        seed_everything(seed, workers=True, verbose=False)
        # 50,000 training images (20% held out for validation) and 10,000 test images, 3 x 32 x 32, in [0, 1]
        datamodule = CNN.build_datamodule(
            data_dir=args.data_dir, augment=args.augment, synthetic=args.synthetic, limit=args.limit, seed=seed
        )
        module = CNN.build_module()
        trainer = make_trainer(LAB, "cnn", seed=seed, **trainer_options(args))
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
        (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
        runs.append(run_record(trainer, test, seed))
    models = {"cnn": over_seeds(runs)}

    if trainer.is_global_zero:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures(LAB)
        results = write_results(
            args.log_dir, LAB, models, book=book, figure="test_accuracy", synthetic=args.synthetic, augment=args.augment
        )
        print(results_table([("cnn", "test accuracy", models["cnn"]["test_accuracy"], book["cnn"])]))
        if args.synthetic:
            print(SYNTHETIC_WARNING)
        print(f"results: {results}")
        # 25 training images with their classes, drawn as the book draws them (rng seed 4)
        train_rows = len(datamodule.train_data[0])
        rows = np.random.default_rng(4).choice(train_rows, min(25, train_rows), replace=False)
        images, labels = datamodule.train_data[0][rows], datamodule.train_data[1][rows]
        title = "CIFAR100 training images" + (" (SYNTHETIC: not CIFAR100)" if args.synthetic else "")
        run_dir = Path(run_folders(models["cnn"])[0])
        with figure_errors(run_dir / "sample_images.png"):
            own = save_sample_images(to_float(images), labels, datamodule.classes, run_dir / "sample_images.png", title)
        samples = publish(own, f"{args.log_dir}/{LAB}/sample_images.png")
        figure = save_model_curves(models["cnn"], "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/cnn_curves.png")
        print(f"sample images: {samples}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
