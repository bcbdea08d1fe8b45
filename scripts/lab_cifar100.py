"""Lab 10.9.3: a convolutional network on the CIFAR100 images.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/lab_cifar100.py [--data-dir data] [--max-epochs 30] [--augment] [--accelerator cuda]
                                   [--log-dir logs]
    python scripts/lab_cifar100.py --synthetic --limit 5000 --max-epochs 3   (offline: the figures mean nothing)
"""

# %% [markdown]
# # 10.9.3 A convolutional network on the CIFAR100 images
#
# CIFAR100 holds small colour photographs, 32 × 32 pixels in three channels, each of one of 100
# kinds of object (apples, bicycles, whales...): 50,000 to train and 10,000 to test. A convolutional
# network learns its own filters: four blocks, each a 3 × 3 convolution, ReLU and a 2 × 2 max-pool
# that halves the image while the channels double, turn each image into 256 maps of 2 × 2; then
# dropout and two dense layers give the 100 class scores. A fifth of the training images is held
# out to watch validation accuracy; the figure is the accuracy on the test images.
#
# Run as a script, the flags of the parameters cell's names override it (`--max-epochs 3`,
# `--data-dir`, `--limit 5000`, `--synthetic`, `--augment`); `--seeds 3` trains the network once per
# seed and reports their mean.

# %%
from pathlib import Path

import numpy as np
from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor
from torch.optim import RMSprop

from datamodules.cifar100 import CIFAR100DataModule
from datamodules.images import to_float
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.labs import book_figures
from lightning_modules.curves import save_figure, show_figure
from lightning_modules.networks import CIFARCNN
from lightning_modules.runner.results import figure_errors, publish, results_table, save_model_curves, write_results
from lightning_modules.runner.runs import (
    last_checkpoint,
    over_seeds,
    print_summary,
    run_folders,
    run_record,
    synthetic_notice,
)
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

# %% tags=["parameters"]
max_epochs = 30  # the book's `cifar_trainer = Trainer(max_epochs=30)`
augment = False  # random crops and flips of the training images (not in the book)
seed = 0  # the book's `seed_everything(0)`
data_dir = "data"  # where CIFAR100 is, or is downloaded to
limit = None  # the first N training and test images only (None: all of them)
synthetic = False  # random images of CIFAR100's shapes, to try the code offline (the figures then mean nothing)
log_dir = "logs"

# %% [markdown]
# The network: four blocks of convolution (32, 64, 128 and 256 channels), ReLU and max-pooling, then
# dropout 0.5, 512 ReLU units and 100 scores; RMSprop at the book's rate of 0.001.


# %%
def train_one_seed(seed: int, args) -> tuple[dict, CIFAR100DataModule]:
    """The network trained and tested once, with ``seed``: the book's cells in order. Returns the run's
    figures and its data module (whose training images the book looks at)."""
    seed_everything(seed, workers=True, verbose=False)
    # 50,000 training images, the book's 20% of them held out for validation, and 10,000 test images,
    # 3 x 32 x 32 in [0, 1]; the book's `cifar_dm = SimpleDataModule(..., validation=0.2, batch_size=128)`
    cifar_dm = CIFAR100DataModule(args.data_dir, batch_size=128, validation=0.2, augment=args.augment, seed=seed,
                                  synthetic=args.synthetic, limit=args.limit)
    # four CIFARConvBlocks (Conv2d 3x3, ReLU, MaxPool2d 2), Dropout(0.5), Linear(1024, 512), ReLU, Linear(512, 100)
    cifar_model = CIFARCNN()
    if seed == seeds(args)[0]:
        print_summary(cifar_model, input_size=(128, 3, 32, 32))
    cifar_optimizer = RMSprop(cifar_model.parameters(), lr=0.001)  # the book's `cifar_optimizer`
    cifar_module = SimpleModule.classification(cifar_model, num_classes=100, metrics=["accuracy"],
                                               optimizer=cifar_optimizer)
    trainer = make_trainer("cifar100", "cnn", max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(cifar_module, datamodule=cifar_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(cifar_module, datamodule=cifar_dm, verbose=False)
    return run_record(trainer, test, seed), cifar_dm


# %% [markdown]
# The book's look at the data: 25 training images, each with its class.


# %%
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


def sample_images(cifar_dm: CIFAR100DataModule, models: dict, args) -> Path:
    """25 training images with their classes, drawn as the book draws them (rng seed 4): saved in the run's
    log folder, then published to ``<log-dir>/cifar100/sample_images.png``."""
    train_rows = len(cifar_dm.train_data[0])
    rows = np.random.default_rng(4).choice(train_rows, min(25, train_rows), replace=False)
    images, labels = cifar_dm.train_data[0][rows], cifar_dm.train_data[1][rows]
    title = "CIFAR100 training images" + (" (SYNTHETIC: not CIFAR100)" if args.synthetic else "")
    run_dir = Path(run_folders(models["cnn"])[0])
    with figure_errors(run_dir / "sample_images.png"):
        own = save_sample_images(to_float(images), labels, cifar_dm.classes, run_dir / "sample_images.png", title)
    return publish(own, f"{args.log_dir}/cifar100/sample_images.png")


# %% [markdown]
# The lab as a whole: the network once per seed, then the table beside the book's figure
# (`results.json`), the sample images and the learning curves.


# %%
def flags():
    """The command line: the parameters above as defaults."""
    parser = lab_parser(__doc__, max_epochs=max_epochs, data=CIFAR100DataModule, seed=seed, log_dir=log_dir,
                        data_dir=data_dir, synthetic=synthetic, limit=limit)
    parser.add_argument("--augment", action="store_true", default=augment,
                        help="random crops and flips of the training images (not in the book)")
    return parser


def main(argv=None) -> dict:
    args = flags().parse_args(argv)
    prepare(args)
    if args.synthetic:
        print(synthetic_notice("CIFAR100"), flush=True)
    records = []
    for seed in seeds(args):  # each seed in turn
        record, cifar_dm = train_one_seed(seed, args)
        records.append(record)
    models = {"cnn": over_seeds(records)}

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures("cifar100")
        results = write_results(args.log_dir, "cifar100", models, book=book, figure="test_accuracy",
                                synthetic=args.synthetic, augment=args.augment)
        print(results_table([("cnn", "test accuracy", models["cnn"]["test_accuracy"], book["cnn"])]))
        if args.synthetic:
            print(synthetic_notice("CIFAR100"))
        print(f"results: {results}")
        samples = sample_images(cifar_dm, models, args)  # the last seed's training images
        figure = save_model_curves(models["cnn"], "accuracy", "Accuracy", f"{args.log_dir}/cifar100/cnn_curves.png")
        print(f"sample images: {samples}\ncurves: {figure}")
        show_figure(samples)
        show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
