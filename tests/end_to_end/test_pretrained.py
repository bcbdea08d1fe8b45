"""The pretrained-network lab, offline: a randomly initialized ResNet50 (``weights=None``) on the book's images."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
import torch
from helpers import load_script
from torchvision.io import read_image, write_png
from torchvision.models import ResNet50_Weights, resnet50
from torchvision.transforms import v2

from datamodules.book_images import book_images_dir, load_images
from foundations.errors import DataUnavailableError
from lightning_modules.pretrained import (
    WeightsUnavailableError,
    book_transform,
    categories,
    classify_images,
    load_resnet50,
    resolve_device,
)
from lightning_modules.trainer import AcceleratorUnavailableError

BOOK_FILES = ["flamingo.jpg", "hawk.jpg", "hawk_cropped.jpeg", "huey.jpg", "kitty.jpg", "weaver.jpg"]
CATEGORIES = ResNet50_Weights.DEFAULT.meta["categories"]


def lab_main():
    return load_script("lab_pretrained").main


@pytest.fixture(scope="module")
def book_images() -> dict[str, torch.Tensor]:
    images, skipped = load_images(transform=book_transform)  # the default folder: ISLP's book_images
    assert skipped == {}
    return images


@pytest.fixture
def small_folder(tmp_path: Path) -> Path:
    """Two small PNG photographs, a text file and a hidden file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for name, size in (("a.png", (3, 300, 200)), ("b.png", (3, 120, 260))):
        write_png(torch.randint(0, 256, size, dtype=torch.uint8, generator=generator), str(folder / name))
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    return folder


def test_book_images_ship_with_islp() -> None:
    folder = book_images_dir()
    assert folder.parts[-3:] == ("ISLP", "data", "book_images")
    assert sorted(path.name for path in folder.iterdir()) == BOOK_FILES


def test_book_transform_is_the_books_preprocessing(book_images: dict[str, torch.Tensor]) -> None:
    assert list(book_images) == BOOK_FILES  # name order, as the book's sorted(glob(...))
    assert all(image.shape == (3, 224, 224) and image.dtype == torch.float32 for image in book_images.values())
    raw = read_image(str(book_images_dir() / "kitty.jpg"))
    by_hand = v2.CenterCrop(224)(v2.Resize((232, 232), antialias=True)(raw)) / 255
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    assert torch.allclose(book_images["kitty.jpg"], (by_hand - mean) / std)


def test_pipeline_gives_sorted_top3_labels_from_the_category_table(book_images: dict[str, torch.Tensor]) -> None:
    torch.manual_seed(0)
    results = classify_images(book_images, weights=None, k=3)
    assert list(results) == BOOK_FILES
    torch.manual_seed(0)  # the same random network, by hand
    model = resnet50(weights=None).eval()
    with torch.no_grad():
        probabilities = model(torch.stack(list(book_images.values()))).softmax(dim=1)
    for row, top in enumerate(results.values()):
        assert len(top) == 3
        values = [entry["probability"] for entry in top]
        assert values == sorted(values, reverse=True) and all(0.0 <= p <= 1.0 for p in values)
        assert all(entry["label"] in CATEGORIES for entry in top)
        best = probabilities[row].argmax()
        assert top[0]["label"] == CATEGORIES[best]
        assert top[0]["probability"] == pytest.approx(probabilities[row, best].item(), rel=1e-4)
    assert categories(None) == CATEGORIES and len(CATEGORIES) == 1000


def test_non_images_are_skipped_and_the_others_read(small_folder: Path) -> None:
    images, skipped = load_images(small_folder, transform=book_transform)
    assert list(images) == ["a.png", "b.png"]
    assert all(image.shape == (3, 224, 224) for image in images.values())
    assert list(skipped) == ["notes.txt"] and "JPEG, PNG" in skipped["notes.txt"]  # hidden files are ignored


def test_script_writes_results_json(small_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log_dir = tmp_path / "logs"
    args = ["--images", str(small_folder), "--log-dir", str(log_dir), "--weights", "none", "--accelerator", "cpu"]
    with pytest.warns(UserWarning, match="labels mean nothing"):
        lab_main()(args)
    results = json.loads((log_dir / "pretrained" / "results.json").read_text())
    assert results["lab"] == "pretrained" and results["weights"].startswith("none")
    assert list(results["images"]) == ["a.png", "b.png"]
    for top in results["images"].values():
        assert [sorted(entry) for entry in top] == [["label", "probability"]] * 3
        assert all(entry["label"] in CATEGORIES for entry in top)
    assert list(results["skipped"]) == ["notes.txt"]
    assert [path.name for path in (log_dir / "pretrained").iterdir()] == ["results.json"]  # no temporary file left
    printed = capsys.readouterr().out
    assert "Image: a.png" in printed and "skipped notes.txt" in printed


def test_folder_errors_are_clear(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataUnavailableError, match="is empty"):
        load_images(empty)
    with pytest.raises(DataUnavailableError, match="does not exist"):
        load_images(tmp_path / "missing")
    (empty / "notes.txt").write_text("text")
    with pytest.raises(DataUnavailableError, match="no readable image .*notes.txt"):
        load_images(empty)


def test_script_exits_with_one_line_on_a_users_mistake(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    script = load_script("lab_pretrained")
    with pytest.raises(SystemExit) as caught:
        script.run(script.main, ["--images", str(tmp_path / "empty"), "--log-dir", str(tmp_path), "--weights", "none"])
    assert caught.value.code == 3  # no images: the chapter run reports the lab as skipped
    message = capsys.readouterr().err
    assert message.startswith("error: image folder") and str(tmp_path / "empty") in message
    assert message.count("\n") == 1 and "Traceback" not in message
    assert not (tmp_path / "pretrained").exists()


def test_missing_weights_say_where_torch_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    checkpoints = tmp_path / "hub" / "checkpoints"
    with pytest.raises(WeightsUnavailableError) as caught:
        load_resnet50(ResNet50_Weights.DEFAULT)
    message = str(caught.value)
    assert str(checkpoints / "resnet50-11ad3fa6.pth") in message and ResNet50_Weights.DEFAULT.url in message
    assert "Temporary failure" in message
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / "resnet50-11ad3fa6.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(WeightsUnavailableError, match="could not be loaded .*corrupt or truncated"):
        load_resnet50(ResNet50_Weights.DEFAULT)


def test_accelerator_choice() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(AcceleratorUnavailableError, match="cuda"):
            resolve_device("cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(AcceleratorUnavailableError, match="mps"):
            resolve_device("mps")
