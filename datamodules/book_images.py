"""The photographs of the book's pretrained-network lab (ISLP ships them in ``ISLP/data/book_images``), or your own."""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from foundations.errors import DataUnavailableError
from foundations.files import outside_folder

#: the formats read (Pillow's names), and how the messages say them
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
READABLE = "JPEG, PNG, WebP or GIF"
#: the most pixels an image may declare: Pillow's default ``MAX_IMAGE_PIXELS`` (a quarter of a GB as RGB);
#: a header claiming more is a decompression bomb, refused before any pixel is decoded
MAX_PIXELS = 89_478_485
#: what Pillow raises for a file that is not an image of :data:`FORMATS`, or a damaged one
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)


#: a PNG's channels by its colour type, and the passes of Adam7 interlacing: (first column, first row, steps)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


class UnreadableImage(Exception):
    """A file that is not an image this module reads; the message says why, for the list of skipped files."""


def check_png_data(path: Path) -> None:
    """Raise :class:`OSError` unless the image data of the PNG ``path`` holds every row its header declares.

    What libpng reports as "Not enough image data": Pillow fills the missing rows of a PNG cut short
    (its zlib stream complete, but short) with zeros and says nothing. The data is inflated a megabyte
    at a time and only counted.
    """
    with open(path, "rb") as file:
        file.seek(8 + 8)  # the signature, IHDR's length and name (Pillow has checked them)
        width, height, depth, colour, _, _, interlaced = struct.unpack(">IIBBBBB", file.read(13))
        if colour not in _PNG_CHANNELS:
            raise OSError(f"colour type {colour} is not one of PNG's")
        bits = depth * _PNG_CHANNELS[colour]
        expected = 0
        for column, row, across, down in _ADAM7 if interlaced else ((0, 0, 1, 1),):
            columns, rows = -(-(width - column) // across), -(-(height - row) // down)
            if columns > 0 and rows > 0:
                expected += rows * (1 + -(-columns * bits // 8))  # each row: its filter byte, then its pixels
        file.seek(4, 1)  # IHDR's CRC
        inflate, found = zlib.decompressobj(), 0
        while found < expected:
            length, name = struct.unpack(">I4s", file.read(8))
            if name == b"IEND":
                break
            if name != b"IDAT":
                file.seek(length + 4, 1)
                continue
            data = file.read(length)
            file.seek(4, 1)
            while data and found < expected:
                found += len(inflate.decompress(data, 1 << 20))
                data = inflate.unconsumed_tail
    if found < expected:
        raise OSError(f"image data cut short: {found:,} of the {expected:,} bytes its header declares")


def read_rgb(path: Path) -> Tensor:
    """The image in ``path`` as an RGB ``uint8`` tensor ``(3, H, W)``: the first frame, EXIF orientation ignored.

    Decoded by Pillow, whose decoders report a damaged image as an error (torchvision's PNG decoder kills
    the process on one cut short): the declared size is checked against :data:`MAX_PIXELS` before any
    pixel is decoded, and a file cut short raises (unless ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` has been
    set; a PNG is checked by :func:`check_png_data` all the same). The pixels are those
    :func:`torchvision.io.read_image` gives with ``ImageReadMode.RGB`` (a test checks JPEG, PNG, GIF and
    WebP). Raises :class:`UnreadableImage` saying why.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is checked here, below
            with Image.open(path, formats=FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise Image.DecompressionBombError(f"{width} x {height}")
                if image.format == "PNG":
                    check_png_data(path)
                image.load()
                pixels = np.array(image.convert("RGB"))
    except UnidentifiedImageError:
        raise UnreadableImage(f"not a {READABLE} image") from None
    except Image.DecompressionBombError:  # Pillow's own check, or the one above
        raise UnreadableImage(
            f"its header declares more than {MAX_PIXELS:,} pixels, the most an image may have: a damaged "
            "or hostile file, not decoded (resize it to read it)"
        ) from None
    except _DECODE_ERRORS as error:
        raise UnreadableImage(f"a damaged {READABLE} image ({str(error) or type(error).__name__})") from None
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


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
    for each file that is not a readable image (see :func:`read_rgb`), or is a
    link to a file outside ``folder``, the reason. Raises
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
        if (target := outside_folder(path, folder)) is not None:
            skipped[path.name] = f"a link to {target}, outside {folder}: not read (copy the photo into the folder)"
            continue
        try:
            image = read_rgb(path)
        except UnreadableImage as error:
            skipped[path.name] = str(error)
            continue
        images[path.name] = image if transform is None else transform(image)
    if not images:
        raise DataUnavailableError(
            f"no readable image in {folder} (skipped: {', '.join(skipped)}); use {READABLE} files"
        )
    return images, skipped
