"""The photographs of the book's pretrained-network lab (ISLP ships them in ``ISLP/data/book_images``), or your own."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from torch import Tensor
from torchvision.io import ImageReadMode, read_image

from datamodules.errors import DataUnavailableError

#: what :func:`torchvision.io.read_image` decodes
READABLE = "JPEG, PNG, WebP or GIF"


def book_images_dir() -> Path:
    """The ``book_images`` folder inside the installed ISLP package."""
    folder = files("ISLP").joinpath("data", "book_images")
    if not isinstance(folder, Path) or not folder.is_dir():
        raise DataUnavailableError(
            f"the installed ISLP package has no data/book_images folder ({folder}): download book_images.zip "
            "from the data section of www.statlearning.com, unzip it and pass its folder (--images DIR)"
        )
    return folder


def load_images(
    folder: str | Path | None = None, transform: Callable[[Tensor], Tensor] | None = None
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read every file of ``folder`` (default: the book's images) as an RGB ``uint8`` tensor ``(3, H, W)``.

    Files are taken in name order, as the book's ``sorted(glob(...))``;
    hidden files (``.DS_Store``) and subfolders are ignored. ``transform``
    is applied to each image as it is read, so full-size photographs are not
    all held at once. Returns ``(images, skipped)``: images by file name, and
    for each file that is not a readable image, the reason. Raises
    :class:`DataUnavailableError` if the folder is missing or holds no
    readable image.
    """
    folder = book_images_dir() if folder is None else Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise DataUnavailableError(f"image folder {folder} {what}")
    paths = sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))
    if not paths:
        raise DataUnavailableError(f"image folder {folder} is empty: put {READABLE} images there")
    images: dict[str, Tensor] = {}
    skipped: dict[str, str] = {}
    for path in paths:
        try:
            image = read_image(str(path), mode=ImageReadMode.RGB)
        except RuntimeError:  # torchvision's decoders raise RuntimeError for anything they cannot decode
            skipped[path.name] = f"not a {READABLE} image that torchvision can decode"
            continue
        images[path.name] = image if transform is None else transform(image)
    if not images:
        raise DataUnavailableError(
            f"no readable image in {folder} (skipped: {', '.join(skipped)}); use {READABLE} files"
        )
    return images, skipped
