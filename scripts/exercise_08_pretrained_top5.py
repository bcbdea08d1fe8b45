"""Exercise 10.10.8: the pretrained ResNet50 of lab 10.9.4 on photos of your own: the top five classes per image.

Put your photos (the exercise asks for ten of animals, cropped so the animal
fills a good part of the picture) in a folder and pass it as ``--images``;
without it, ISLP's six ``book_images`` are used. Prints the five most probable
ImageNet classes per image and writes them to
``<log-dir>/exercise_08/results.json`` and ``top5.csv``.

    python scripts/exercise_08_pretrained_top5.py --images my_animals

The weights come as in the lab (``torch.hub``); offline and without them it
says which file to put where, and ``--weights none`` runs a random network.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pytorch_lightning import seed_everything

from datamodules.book_images import book_images_dir, load_images
from datamodules.files import write_atomically
from lightning_modules.exercise_answers import answer
from lightning_modules.pretrained import book_transform, classify_images, resolve_device, weights_name
from lightning_modules.results import write_results
from lightning_modules.trainer import ACCELERATORS
from scripts.command_line import LabArgumentParser, check_log_dir, run, seed_number
from scripts.lab_pretrained import WEIGHTS, format_table

LAB = "exercise_08"
TOP = 5  # the lab prints three


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = LabArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=None, help="folder of your images (default: ISLP's book_images)")
    parser.add_argument("--log-dir", type=Path, default=Path("logs"), help="results go to <log-dir>/exercise_08/")
    parser.add_argument("--accelerator", choices=ACCELERATORS, default="auto")
    parser.add_argument("--weights", choices=list(WEIGHTS), default="DEFAULT",
                        help="torchvision's ResNet50 weights; 'none' is a random network (offline smoke test)")
    parser.add_argument("--seed", type=seed_number, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    if args.images is not None and not args.images.is_dir():
        parser.error(f"--images {args.images}: no such folder; give a folder of images")
    check_log_dir(args.log_dir)
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    seed_everything(args.seed, workers=True, verbose=False)
    weights = WEIGHTS[args.weights]
    if weights is None:
        warnings.warn("--weights none: a randomly initialized ResNet50, its classes mean nothing", stacklevel=1)

    # the lab's preprocessing and network; the five most probable classes instead of three
    images, skipped = load_images(args.images or book_images_dir(), transform=book_transform)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    top = classify_images(images, weights=weights, device=resolve_device(args.accelerator), k=TOP)
    print(format_table(top))

    models = {name: {"top_5": classes} for name, classes in top.items()}
    # whose images: the report says when they are the book's, not the reader's own photos the exercise asks for
    source = {"image_folder": str(args.images or book_images_dir()), "own_images": args.images is not None}
    words = answer(LAB, {"models": models, "synthetic": weights is None, **source})
    results = write_results(args.log_dir, LAB, models, weights=weights_name(weights), synthetic=weights is None,
                            skipped=skipped, answer=words, **source)
    table = pd.DataFrame([{"image": name, "rank": rank, **entry}
                          for name, classes in top.items() for rank, entry in enumerate(classes, 1)])
    csv = write_atomically(Path(args.log_dir) / LAB / "top5.csv", table.to_csv(index=False).encode())
    print(words)
    print(f"results: {results}\ntable: {csv}")
    return models


if __name__ == "__main__":
    run(main)
