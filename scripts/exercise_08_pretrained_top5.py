"""Exercise 10.10.8: the pretrained ResNet50 of lab 10.9.4 on photos of your own: the top five classes per image.

Put your photos (the exercise asks for ten of animals, cropped so the animal
fills a good part of the picture) in a folder and pass it as ``--images``;
without it, ISLP's six ``book_images`` are used. Prints the five most probable
ImageNet classes per image and writes them to
``<log-dir>/exercise_08/results.json`` and ``top5.csv``.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/exercise_08_pretrained_top5.py --images my_animals

The weights come as in the lab (``torch.hub``); offline and without them it
says which file to put where, and ``--weights none`` runs a random network.
"""

# %% [markdown]
# # Exercise 10.10.8: the pretrained ResNet50 on your own photos
#
# The lab (`scripts/lab_pretrained.py`) shows ResNet50 the book's six photographs. The exercise asks
# for ten photographs of animals of your own, cropped so that the animal fills much of the picture,
# and for the network's five most probable classes of each rather than the lab's three. The rest
# (the resize, crop and normalisation, the network in evaluation mode, the softmax) is the lab's.
# Does the network name your animals, and how sure is it?

# %%
import argparse
import warnings
from pathlib import Path

import pandas as pd
import torch
from pytorch_lightning import seed_everything

from datamodules.book_images import book_images_dir, load_images
from foundations.files import write_atomically
from lightning_modules.chapter.exercise_answers import answer
from lightning_modules.pretrained import (
    book_transform,
    categories,
    load_resnet50,
    predict_top_k,
    resolve_device,
    weights_name,
)
from lightning_modules.runner.results import write_results
from lightning_modules.trainer import ACCELERATORS
from scripts.command_line import LabArgumentParser, check_log_dir, run, seed_number
from scripts.lab_pretrained import WEIGHTS, format_table

# %% tags=["parameters"]
images = None  # the folder of your photos (None: ISLP's six book_images, which answer nothing of the exercise)
weights = "DEFAULT"  # the lab's `ResNet50_Weights.DEFAULT`; "none": a random network, offline
accelerator = "auto"  # where the network runs: auto, cpu, cuda, gpu or mps
seed = 0
log_dir = "logs"

# %% [markdown]
# The lab's images and network, with the five most probable classes of each image; then the answer,
# `results.json` and `top5.csv`.


# %%
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    seed_everything(args.seed, workers=True, verbose=False)
    weights = WEIGHTS[args.weights]
    if weights is None:
        warnings.warn("--weights none: a randomly initialized ResNet50, its classes mean nothing", stacklevel=1)

    # the lab's preprocessing: resize to 232 x 232, crop the central 224 x 224, scale to [0, 1] and normalize
    imgs, skipped = load_images(args.images or book_images_dir(), transform=book_transform)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    # the lab's network in eval mode and its softmax; the change: the five most probable classes, not three
    device = resolve_device(args.accelerator)
    resnet_model = load_resnet50(weights)
    top5 = predict_top_k(resnet_model, torch.stack(list(imgs.values())), categories(weights), k=5, device=device)
    top = dict(zip(imgs, top5))
    print(format_table(top))

    models = {name: {"top_5": classes} for name, classes in top.items()}
    # whose images: the report says when they are the book's, not the reader's own photos the exercise asks for
    source = {"image_folder": str(args.images or book_images_dir()), "own_images": args.images is not None}
    words = answer("exercise_08", {"models": models, "synthetic": weights is None, **source})
    results = write_results(args.log_dir, "exercise_08", models, weights=weights_name(weights),
                            synthetic=weights is None, skipped=skipped, answer=words, **source)
    table = pd.DataFrame([{"image": name, "rank": rank, **entry}
                          for name, classes in top.items() for rank, entry in enumerate(classes, 1)])
    csv = write_atomically(Path(args.log_dir) / "exercise_08" / "top5.csv", table.to_csv(index=False).encode())
    print(words)
    print(f"results: {results}\ntable: {csv}")
    return models


# %% [markdown]
# The command line: the parameters above as the flags' defaults.


# %%
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = LabArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=images,
                        help="folder of your images (default: ISLP's book_images)")
    parser.add_argument("--log-dir", type=Path, default=log_dir, help="results go to <log-dir>/exercise_08/")
    parser.add_argument("--accelerator", choices=ACCELERATORS, default=accelerator)
    parser.add_argument("--weights", choices=list(WEIGHTS), default=weights,
                        help="torchvision's ResNet50 weights; 'none' is a random network (offline smoke test)")
    parser.add_argument("--seed", type=seed_number, default=seed, help=f"random seed (default: {seed})")
    args = parser.parse_args(argv)
    if args.images is not None and not args.images.is_dir():
        parser.error(f"--images {args.images}: no such folder; give a folder of images")
    check_log_dir(args.log_dir)
    return args


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
