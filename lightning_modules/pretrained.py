"""The book's pretrained-network lab: ImageNet labels for photographs from torchvision's ResNet50.

No training here, so no Lightning: the book's preprocessing, the network in
eval mode, a softmax, and the three most probable of ImageNet's 1,000
categories per image.
"""

from __future__ import annotations

import os
import pickle
import textwrap
from collections.abc import Mapping, Sequence
from urllib.parse import urlparse

import torch
from torch import Tensor, nn
from torchvision.models import ResNet50_Weights, resnet50
from torchvision.transforms import v2

from foundations.errors import DataUnavailableError
from lightning_modules.trainer import available_accelerators, check_accelerator

#: the ImageNet channel means and standard deviations the book normalizes with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: the top labels of one image, most probable first: [{"label": ..., "probability": ...}, ...]
TopK = list[dict[str, float | str]]


class WeightsUnavailableError(DataUnavailableError):
    """The pretrained weights are missing or unreadable (the message says where to put them)."""


_RESIZE = v2.Resize((232, 232), antialias=True)
_CROP = v2.CenterCrop(224)
_NORMALIZE = v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)


def book_transform(image: Tensor) -> Tensor:
    """The book's preprocessing of one ``uint8`` image ``(3, H, W)`` into a normalized float ``(3, 224, 224)``.

    As in the book: ``Resize((232, 232), antialias=True)`` (a square resize,
    unlike torchvision's ``weights.transforms()``, which resizes the shorter
    side and keeps the aspect ratio), ``CenterCrop(224)``, division by 255,
    ImageNet normalization.
    """
    return _NORMALIZE(_CROP(_RESIZE(image)) / 255)


def resolve_device(accelerator: str = "auto") -> torch.device:
    """``auto`` (cuda, else mps, else cpu), ``cpu``, ``cuda`` or ``mps``; a clear error if it is not there."""
    check_accelerator(accelerator)
    if accelerator in ("auto", "gpu"):
        available = available_accelerators()
        return torch.device("cuda" if "cuda" in available else "mps" if "mps" in available else "cpu")
    return torch.device(accelerator)


def weights_name(weights: ResNet50_Weights | None) -> str:
    return "none (random initialization: the labels mean nothing)" if weights is None else str(weights)


def categories(weights: ResNet50_Weights | None = ResNet50_Weights.DEFAULT) -> list[str]:
    """ImageNet's 1,000 category names, from torchvision's weight metadata (no download needed)."""
    return list((weights or ResNet50_Weights.DEFAULT).meta["categories"])


def checkpoint_path(weights: ResNet50_Weights) -> str:
    """Where ``torch.hub`` looks for (and downloads) the weights file."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(weights.url).path))


def load_resnet50(weights: ResNet50_Weights | None = ResNet50_Weights.DEFAULT) -> nn.Module:
    """torchvision's ResNet50 in eval mode; ``weights=None`` gives a random one (tests, offline trials).

    The weights file (downloaded, or already in torch's hub cache) is read with
    ``torch.load(weights_only=True)``: tensors only, never code. (torchvision's
    ``resnet50(weights=...)`` reads a cached file with ``weights_only=False``, and
    checks its hash only when it downloads it.) A file holding anything else is
    refused as corrupt.
    """
    model = resnet50(weights=None)  # ImageNet's 1,000 classes, as resnet50(weights=...) builds it
    if weights is None:
        return model.eval()
    try:
        state = weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
        model.load_state_dict(state)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        # URLError is an OSError; a corrupt, truncated or unsafe file fails in torch.load, a wrong one in load_state_dict
        path, lines = checkpoint_path(weights), [line.strip() for line in str(error).strip().splitlines() if line.strip()]
        if isinstance(error, pickle.UnpicklingError) and "weights only" in str(error).lower():
            reason = "it holds objects other than tensors, which are not loaded: loading them could run code"
        else:
            reason = textwrap.shorten(lines[-1] if lines else type(error).__name__, width=200)
        if os.path.isfile(path):
            raise WeightsUnavailableError(
                f"the weights file {path} could not be loaded ({reason}): it is corrupt or truncated, or not "
                f"the original; delete it and run again, or download {weights.url} and copy it there"
            ) from error
        raise WeightsUnavailableError(
            f"the {weights} weights are not in {os.path.dirname(path)} and could not be downloaded ({reason}). "
            f"Download {weights.url} on a machine with internet and copy it to {path} "
            "(torch.hub.get_dir(); set TORCH_HOME to move it), or pass weights=None (--weights none) for a "
            "random network"
        ) from error
    return model.eval()


@torch.inference_mode()
def predict_top_k(
    model: nn.Module,
    images: Tensor,
    labels: Sequence[str],
    k: int = 3,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> list[TopK]:
    """Softmax probabilities of a batch of preprocessed images; per image the ``k`` most probable labels."""
    model = model.eval().to(device)
    results: list[TopK] = []
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size].to(device))
        probabilities, indices = logits.softmax(dim=1).topk(k, dim=1)  # sorted, most probable first
        for row_p, row_i in zip(probabilities.tolist(), indices.tolist()):
            results.append([{"label": labels[i], "probability": p} for p, i in zip(row_p, row_i)])
    return results


def classify_images(
    images: Mapping[str, Tensor],
    weights: ResNet50_Weights | None = ResNet50_Weights.DEFAULT,
    device: torch.device | str = "cpu",
    k: int = 3,
) -> dict[str, TopK]:
    """The top ``k`` labels of each preprocessed image (see :func:`book_transform`), by name."""
    names = list(images)
    if not names:
        return {}
    batch = torch.stack([images[name] for name in names])
    predictions = predict_top_k(load_resnet50(weights), batch, categories(weights), k=k, device=device)
    return dict(zip(names, predictions))
