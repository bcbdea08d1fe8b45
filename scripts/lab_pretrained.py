"""Lab: using a pretrained CNN (ISLP section 10.9.4).

A ResNet50 trained on ImageNet labels the six photographs that ship with
ISLP (or the images of ``--images DIR``). Prints the three most probable
ImageNet categories per image and writes ``<log-dir>/pretrained/results.json``.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/lab_pretrained.py
    python scripts/lab_pretrained.py --images my_photos --accelerator cpu

The weights (about 100 MB) are downloaded once into ``torch.hub.get_dir()``;
``--weights none`` runs a random network offline (the labels then mean nothing).
"""

# %% [markdown]
# # 10.9.4 Using a pretrained CNN
#
# Nothing is trained here. ResNet50, a 50-layer convolutional network that others fitted to the
# 1.2 million photographs of ImageNet, sorts any photograph into ImageNet's 1,000 categories. Each
# image is prepared as the network saw its training images: resized to 232 × 232, its central
# 224 × 224 cut out, each channel standardised by ImageNet's means and standard deviations. The
# network, in evaluation mode (no dropout, the batch normalisation's stored statistics), gives 1,000
# scores per image; a softmax turns them into probabilities, and we print the three largest.
#
# Run as a script, the flags of the parameters cell's names override it (`--images my_photos`,
# `--weights none` for a random network offline).

# %%
import argparse
import warnings
from pathlib import Path

import torch
from pytorch_lightning import seed_everything
from torchvision.models import ResNet50_Weights

from datamodules.book_images import book_images_dir, load_images
from lightning_modules.pretrained import (
    TopK,
    book_transform,
    categories,
    load_resnet50,
    predict_top_k,
    resolve_device,
    weights_name,
)
from lightning_modules.runner.results import write_json
from scripts.command_line import LabArgumentParser, check_log_dir, run, seed_number

# %% tags=["parameters"]
images = None  # a folder of images (None: the six that ship with ISLP, the book's `book_images`)
weights = "DEFAULT"  # the book's `ResNet50_Weights.DEFAULT`; "none": a random network, offline
accelerator = "auto"  # where the network runs: auto, cpu, cuda or mps
seed = 0
log_dir = "logs"

# %% [markdown]
# The images, the network and its three most probable categories per image.

# %%
#: the choices of --weights: torchvision's names, or none for a random network
WEIGHTS: dict[str, ResNet50_Weights | None] = {"DEFAULT": ResNet50_Weights.DEFAULT, "none": None}
WEIGHTS |= {choice.name: choice for choice in ResNet50_Weights}


def format_table(results: dict[str, TopK]) -> str:
    lines = []
    for name, top in results.items():
        lines.append(f"Image: {name}")
        lines += [f"  {i}. {entry['label']:<30} {entry['probability']:.4f}" for i, entry in enumerate(top, 1)]
    return "\n".join(lines)


def classify(args: argparse.Namespace) -> Path:
    """The book's cells in order: the images, the network, the top three categories; then ``results.json``."""
    seed_everything(args.seed, workers=True)
    device = resolve_device(args.accelerator)
    weights = WEIGHTS[args.weights]
    if weights is None:
        warnings.warn("--weights none: a randomly initialized ResNet50, its labels mean nothing", stacklevel=1)

    # read each image, resize to 232 x 232, crop the central 224 x 224, scale to [0, 1] and normalize, as the book does
    folder = args.images or book_images_dir()
    imgs, skipped = load_images(folder, transform=book_transform)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")

    # the network in eval mode, a softmax, the three most probable ImageNet categories per image
    resnet_model = load_resnet50(weights)  # torchvision's resnet50, the weights loaded, in eval mode
    top3 = predict_top_k(resnet_model, torch.stack(list(imgs.values())), categories(weights), k=3, device=device)
    results = dict(zip(imgs, top3))
    print(format_table(results))

    out = args.log_dir / "pretrained" / "results.json"
    write_json(
        out,
        {
            "lab": "pretrained",
            "weights": weights_name(weights),
            "synthetic": weights is None,  # a random network: the labels mean nothing
            "images": results,
            "skipped": skipped,
        },
    )
    print(f"wrote {out}")
    return out


# %% [markdown]
# The command line: the parameters above as the flags' defaults.


# %%
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = LabArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=images, help="folder of images (default: ISLP's book_images)")
    parser.add_argument("--log-dir", type=Path, default=log_dir, help="results go to <log-dir>/pretrained/")
    parser.add_argument("--accelerator", choices=["auto", "cpu", "cuda", "mps"], default=accelerator)
    parser.add_argument(
        "--weights",
        choices=list(WEIGHTS),
        default=weights,
        help="torchvision's ResNet50 weights; 'none' is a random network (offline smoke test)",
    )
    parser.add_argument("--seed", type=seed_number, default=seed,
                        help=f"random seed, 0 to 4294967295 (default: {seed})")
    args = parser.parse_args(argv)
    if args.images is not None and not args.images.is_dir():
        parser.error(f"--images {args.images}: no such folder; give a folder of images")
    check_log_dir(args.log_dir)  # before the weights and images are loaded
    return args


def main(argv: list[str] | None = None) -> Path:
    return classify(parse_args(argv))


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    out = run(main)
