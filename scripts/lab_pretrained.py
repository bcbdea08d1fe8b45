"""Lab: using a pretrained CNN (ISLP section 10.9.4).

A ResNet50 trained on ImageNet labels the six photographs that ship with
ISLP (or the images of ``--images DIR``). Prints the three most probable
ImageNet categories per image and writes ``<log-dir>/pretrained/results.json``.

    python scripts/lab_pretrained.py
    python scripts/lab_pretrained.py --images my_photos --accelerator cpu

The weights (about 100 MB) are downloaded once into ``torch.hub.get_dir()``;
``--weights none`` runs a random network offline (the labels then mean nothing).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from pytorch_lightning import seed_everything
from torchvision.models import ResNet50_Weights

from datamodules.book_images import book_images_dir, load_images
from lightning_modules.pretrained import (
    TopK,
    book_transform,
    classify_images,
    resolve_device,
    weights_name,
)
from lightning_modules.results import write_json
from scripts.command_line import LabArgumentParser, check_log_dir, run, seed_number

#: the choices of --weights: torchvision's names, or none for a random network
WEIGHTS: dict[str, ResNet50_Weights | None] = {"DEFAULT": ResNet50_Weights.DEFAULT, "none": None}
WEIGHTS |= {weights.name: weights for weights in ResNet50_Weights}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = LabArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=None, help="folder of images (default: ISLP's book_images)")
    parser.add_argument("--log-dir", type=Path, default=Path("logs"), help="results go to <log-dir>/pretrained/")
    parser.add_argument("--accelerator", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    parser.add_argument(
        "--weights",
        choices=list(WEIGHTS),
        default="DEFAULT",
        help="torchvision's ResNet50 weights; 'none' is a random network (offline smoke test)",
    )
    parser.add_argument("--seed", type=seed_number, default=0, help="random seed, 0 to 4294967295 (default: 0)")
    args = parser.parse_args(argv)
    if args.images is not None and not args.images.is_dir():
        parser.error(f"--images {args.images}: no such folder; give a folder of images")
    check_log_dir(args.log_dir)  # before the weights and images are loaded
    return args


def format_table(results: dict[str, TopK]) -> str:
    lines = []
    for name, top in results.items():
        lines.append(f"Image: {name}")
        lines += [f"  {i}. {entry['label']:<30} {entry['probability']:.4f}" for i, entry in enumerate(top, 1)]
    return "\n".join(lines)


def classify(args: argparse.Namespace) -> Path:
    seed_everything(args.seed, workers=True)
    device = resolve_device(args.accelerator)
    weights = WEIGHTS[args.weights]
    if weights is None:
        warnings.warn("--weights none: a randomly initialized ResNet50, its labels mean nothing", stacklevel=1)

    # read each image, resize, crop, scale to [0, 1] and normalize, as the book does
    folder = args.images or book_images_dir()
    images, skipped = load_images(folder, transform=book_transform)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")

    # the network in eval mode, a softmax, the three most probable ImageNet labels per image
    results = classify_images(images, weights=weights, device=device, k=3)
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


def main(argv: list[str] | None = None) -> Path:
    return classify(parse_args(argv))


if __name__ == "__main__":
    run(main)
