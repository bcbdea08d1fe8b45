"""Forged and damaged data files, and links out of a data folder: nothing in a file chooses memory, or leaves its folder.

1. A forged numpy state in a pickle (an object dtype with its flags zeroed, a structured dtype with an
   object field, a forged scalar, data shorter than its shape...) is refused in one line, in a fresh
   process that exits cleanly, where a plain ``pickle.load`` dies of SIGSEGV.
2. A PNG whose header claims 60000 x 60000, or whose data is cut short, and other damaged photos are
   skipped with their line by the pretrained lab and exercise 8; the others are classified. Good images
   decode to exactly torchvision's pixels.
3. A data set's file that is a link out of its folder is skipped (IMDB reviews, photos) or refuses the set
   (CIFAR, MNIST); an IMDB cache whose contents contradict its shape is rebuilt with one line.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import resource
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import WORD_INDEX, cifar_files, write_aclimdb
from helpers import ROOT, run_script
from PIL import Image
from torchvision.io import ImageReadMode, read_image

from datamodules.book_images import MAX_PIXELS, book_images_dir, load_images, read_rgb
from datamodules.cifar100 import CIFAR100DataModule
from datamodules.imdb import IMDBDataModule
from datamodules.imdb.cache import EncodedIMDB
from datamodules.mnist import MNISTDataModule
from datamodules.safe_pickle import NUMPY_ARRAYS, load_pickle
from foundations.errors import CorruptDataError

try:  # numpy 2
    from numpy._core.multiarray import _reconstruct, scalar
    from numpy._core.numeric import _frombuffer
except ImportError:  # numpy 1
    from numpy.core.multiarray import _reconstruct, scalar
    from numpy.core.numeric import _frombuffer


def one_line(stderr: str) -> str:
    """The last line of stderr, after checking there is no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    return stderr.strip().splitlines()[-1]


def no_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# -- 1. forged numpy states in a pickle ---------------------------------------------------------------------
class Forge:
    """Pickled, it is whatever ``reduce`` says: ``(callable, args[, state])``, as a hostile file would hold."""

    def __init__(self, *reduce) -> None:
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


PLAIN = (3, "|", None, None, None, -1, -1, 0)


def dtype(code: str, state: tuple = PLAIN) -> Forge:
    return Forge(np.dtype, (code, False, True), state)


def array(dt: Forge, shape: tuple, data: bytes, fortran: bool = False) -> Forge:
    return Forge(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dt, fortran, data))


POINTERS = b"\x41" * 8  # read as an object pointer, 0x4141414141414141
FORGED = {  # the three of the issue first: each kills a process that unpickles it plainly
    "object_dtype_flags_zeroed": array(dtype("O8"), (1,), POINTERS),
    "structured_dtype_object_field": array(
        dtype("V8", (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)), (1,), POINTERS),
    "object_scalar": Forge(scalar, (dtype("O8"), POINTERS)),
    "u1_code_with_object_fields": array(
        dtype("u1", (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 63)), (1,), POINTERS),
    "u1_code_with_object_flags": array(dtype("u1", (3, "|", None, None, None, -1, -1, 63)), (8,), POINTERS),
    "subarray_dtype": array(dtype("V8", (3, "|", (np.dtype("O"), (1,)), None, None, 8, 1, 0)), (1,), POINTERS),
    "dtype_with_metadata": array(dtype("u1", (4, "|", None, None, None, -1, -1, 0, {"a": 1})), (8,), POINTERS),
    "u8_state_with_no_byte_order": array(dtype("u8", PLAIN), (1,), POINTERS),
    "datetime_dtype": array(dtype("M8", (4, "<", None, None, None, -1, -1, 0, {})), (1,), POINTERS),
    "data_shorter_than_shape": array(dtype("u1"), (1_000_000,), b"\x00" * 10),
    "data_longer_than_shape": array(dtype("u1"), (2,), b"\x00" * 10),
    "negative_shape": array(dtype("u1"), (-1,), b"x"),
    "huge_shape_no_data": array(dtype("u1"), (2**40, 2**40), b"x"),
    "huge_empty_shape": array(dtype("u1"), (0, 2**62 - 1, 2**62 - 1), b"x"),
    "empty_bytes_with_a_size": Forge(_reconstruct, (np.ndarray, (0,), b"b"), (1, (5,), dtype("u1"), False,
                                                                            Forge(bytes, (10**6,)))),
    "object_array_state": Forge(_reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), dtype("O8"), False, [os.getpid])),
    "short_scalar": Forge(scalar, (dtype("f8", (3, "<", None, None, None, -1, -1, 0)), b"\x00" * 3)),
    "frombuffer_short": Forge(_frombuffer, (bytearray(10), dtype("u1"), (1000,), "C")),
    "frombuffer_object": Forge(_frombuffer, (bytearray(8), dtype("O8"), (1,), "C")),
    "reconstruct_other_shape": Forge(_reconstruct, (np.ndarray, (100,), b"b")),
}


def forged_pickle(case: str) -> bytes:
    """A CIFAR-shaped dict whose data is the forged object ``case`` (protocol 2, as CIFAR's own files; 5 where
    numpy's ``_frombuffer`` is forged, as numpy uses it only there)."""
    return pickle.dumps({"data": FORGED[case], "fine_labels": [0]}, protocol=5 if "frombuffer" in case else 2)


def build_twice() -> bytes:
    """A real array's pickle whose state is applied a second time (BINGET of the state, BUILD again)."""
    content = pickle.dumps(np.arange(3, dtype=np.uint8), protocol=2)
    memo = [arg for op, arg, _ in pickletools.genops(content) if op.name == "BINPUT"][-1]
    return content[:-1] + b"h" + bytes([memo]) + b"b."


RAW = {  # written opcode by opcode
    "build_on_a_dict": b"\x80\x02}q\x00}b.",  # EMPTY_DICT, EMPTY_DICT, BUILD
    "ndarray_called_directly": b"\x80\x02cnumpy\nndarray\n(K\x01\x85tR.",  # ndarray((1,))
    "build_twice": build_twice(),
}

LOAD_EACH = """
import json, os, sys, traceback
from foundations.errors import CorruptDataError
from datamodules.safe_pickle import NUMPY_ARRAYS, load_pickle
statuses = {}
for path in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:  # a fresh process for each file (the imports done once): a crash ends only it
        os.dup2(os.open(path + ".stderr", os.O_WRONLY | os.O_CREAT), 2)
        try:
            print(repr(load_pickle(path, "a CIFAR100 pickle", NUMPY_ARRAYS)))
            status = 0
        except CorruptDataError as error:
            print(f"error: {error}", file=sys.stderr)
            status = 1
        except BaseException:
            traceback.print_exc()
            status = 2
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(status)
    statuses[path] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(statuses))
"""


@pytest.fixture(scope="module")
def forged_loads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int, str]]:
    """Each forged pickle loaded by :func:`load_pickle` in a process of its own: ``(path, exit status, stderr)``."""
    folder = tmp_path_factory.mktemp("forged")
    paths = {}
    for case in [*FORGED, *RAW]:
        paths[case] = folder / case / "train"
        paths[case].parent.mkdir()
        paths[case].write_bytes(RAW[case] if case in RAW else forged_pickle(case))
    done = subprocess.run([sys.executable, "-c", LOAD_EACH, *map(str, paths.values())], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, preexec_fn=no_core_dump)
    assert done.returncode == 0, done.stderr[-3000:]
    statuses = json.loads(done.stdout.strip().splitlines()[-1])
    return {case: (path, statuses[str(path)], Path(f"{path}.stderr").read_text()) for case, path in paths.items()}


@pytest.mark.parametrize("case", [*FORGED, *RAW])
def test_a_forged_numpy_state_is_refused_in_one_line_in_a_fresh_process(forged_loads, case: str) -> None:
    path, status, stderr = forged_loads[case]
    assert status == 1, (status, stderr[-2000:])
    line = one_line(stderr)
    assert line.startswith(f"error: {path} is not a CIFAR100 pickle: it holds ") and "so it was not loaded" in line
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("case", list(FORGED)[:3])
def test_the_forged_pickles_really_crash_a_plain_unpickler(tmp_path: Path, case: str) -> None:
    """Proof the files are hostile: unpickled plainly and looked at, the process dies of a signal."""
    path = tmp_path / "train"
    path.write_bytes(forged_pickle(case))
    plain = f"import pickle; print(repr(pickle.load(open({str(path)!r}, 'rb'), encoding='latin1')))"
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", plain], capture_output=True, timeout=120,
                          preexec_fn=no_core_dump)
    assert done.returncode in (-signal.SIGSEGV, -signal.SIGBUS), done.returncode


PLAIN_VALUES = {
    **{f"array_{code}": np.arange(-6, 6).astype(code).reshape(3, 4) for code in
       ("u1", "i1", "<u2", ">i2", "<i4", ">u4", "<i8", ">u8", "<f2", ">f4", "<f8", ">f8", "<c8", ">c16", "?")},
    "fortran": np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)),
    "zero_d": np.array(7.5),
    "empty": np.zeros((0, 5), dtype=np.uint8),
    "scalars": [np.float64(2.5), np.int8(-3), np.uint16(9), np.bool_(True), np.dtype(">f4").type(1.5)],
}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_numeric_arrays_and_scalars_still_load_as_numpy_loads_them(tmp_path: Path, protocol: int) -> None:
    """Exactly what numpy's own unpickling gives (which turns a big-endian array native below protocol 5)."""
    content = pickle.dumps(PLAIN_VALUES, protocol=protocol)
    (tmp_path / "arrays").write_bytes(content)
    loaded, reference = load_pickle(tmp_path / "arrays", "a CIFAR100 pickle", NUMPY_ARRAYS), pickle.loads(content)
    for name, value in reference.items():
        for got, expected in zip(loaded[name] if name == "scalars" else [loaded[name]],
                                 value if name == "scalars" else [value]):
            assert type(got) is type(expected) and got.dtype.str == expected.dtype.str, name
            assert np.array_equal(got, expected) and np.shape(got) == np.shape(expected), name
            assert np.array_equal(got, PLAIN_VALUES[name] if name != "scalars" else got), name
    assert loaded["fortran"].flags.f_contiguous and loaded["array_u1"].flags.writeable


def test_islp_lab_with_verify_false_refuses_a_forged_cifar_pickle_in_one_line(tmp_path: Path) -> None:
    """The issue's reproduction: a forged object array as the labels of ``train`` (a SIGSEGV before)."""
    root = cifar_files(tmp_path / "data")
    train = root / "cifar-100-python" / "train"
    content = pickle.loads(train.read_bytes())
    content["fine_labels"] = array(dtype("O8"), (60,), POINTERS * 60)
    train.write_bytes(pickle.dumps(content, protocol=2))
    # a Python of its own: this file's forged pickles are loaded in a process that may crash, never in this one
    done = subprocess.run(
        [sys.executable, "-m", "lightning_modules.runner.cli", "fit", "--config", str(ROOT / "scripts/configs/cifar100_cnn.yaml"),
         "--data.init_args.data_dir", str(root), "--data.init_args.verify", "false", "--trainer.max_epochs", "1",
         "--trainer.accelerator", "cpu", "--trainer.logger.init_args.save_dir", str(tmp_path / "logs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, preexec_fn=no_core_dump,
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    line = one_line(done.stderr)
    assert line.startswith(f"islp-lab: error: {train} is not a CIFAR100 pickle: it holds a dtype 'O8'")


# -- 2. photographs: damaged, oversized, pixel-identical when good ------------------------------------------
def chunk(name: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + name + data + struct.pack(">I", zlib.crc32(name + data))


def png(width: int, height: int, raw: bytes, colour: int = 2, interlaced: int = 0) -> bytes:
    """A PNG of 8-bit samples whose image data is ``raw`` (filtered rows), compressed whole."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, interlaced)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def rows(pixels: np.ndarray) -> bytes:
    """Rows of ``pixels`` (H, W, C uint8), each after filter byte 0."""
    return b"".join(b"\x00" + row.tobytes() for row in pixels)


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def interlaced_png(pixels: np.ndarray, passes: int = 7) -> bytes:
    """An Adam7-interlaced RGB PNG of ``pixels``: the passes' rows, one after the other (the first ``passes``)."""
    passes = [pixels[row::down, column::across] for column, row, across, down in ADAM7[:passes]]
    raw = b"".join(rows(part) for part in passes if part.size)
    return png(pixels.shape[1], pixels.shape[0], raw, interlaced=1)


def picture(height: int = 37, width: int = 53) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x * y) % 256], axis=-1).astype(np.uint8)


def test_good_images_decode_to_exactly_torchvisions_pixels(tmp_path: Path) -> None:
    source = Image.fromarray(picture(217, 301))
    savers = {
        "420.jpg": lambda p: source.save(p, quality=90), "444.jpg": lambda p: source.save(p, subsampling=0),
        "progressive.jpg": lambda p: source.save(p, progressive=True), "grey.jpg": lambda p: source.convert("L").save(p),
        "cmyk.jpg": lambda p: source.convert("CMYK").save(p), "rgb.png": lambda p: source.save(p),
        "palette.png": lambda p: source.convert("P").save(p), "grey.png": lambda p: source.convert("L").save(p),
        "la.png": lambda p: source.convert("LA").save(p), "rgba.png": lambda p: source.convert("RGBA").save(p),
        "bits.png": lambda p: source.convert("1").save(p), "a.gif": lambda p: source.convert("P").save(p),
        "lossy.webp": lambda p: source.save(p, quality=80), "lossless.webp": lambda p: source.save(p, lossless=True),
    }
    paths = []
    for name, save in savers.items():
        save(tmp_path / name)
        paths.append(tmp_path / name)
    (tmp_path / "hand.png").write_bytes(png(53, 37, rows(picture())))
    paths += [tmp_path / "hand.png", *sorted(book_images_dir().iterdir())]
    for path in paths:
        ours, theirs = read_rgb(path), read_image(str(path), mode=ImageReadMode.RGB)
        assert ours.dtype == theirs.dtype == torch.uint8 and ours.is_contiguous(), path.name
        assert torch.equal(ours, theirs), path.name


def test_an_interlaced_png_is_read_whole(tmp_path: Path) -> None:
    """The data check counts Adam7's seven passes right: a whole interlaced PNG is read, not skipped."""
    pixels = picture()
    (tmp_path / "interlaced.png").write_bytes(interlaced_png(pixels))
    assert torch.equal(read_rgb(tmp_path / "interlaced.png"), torch.from_numpy(pixels).permute(2, 0, 1))


def hostile_photos(folder: Path, outside: Path) -> dict[str, str]:
    """Good and damaged photos in ``folder``; returns the words each damaged one's line must hold."""
    folder.mkdir()
    pixels = picture()
    (folder / "good.png").write_bytes(png(53, 37, rows(pixels)))
    (folder / "good_interlaced.png").write_bytes(interlaced_png(pixels))
    Image.fromarray(pixels).save(folder / "good.jpg")
    (folder / "bomb.png").write_bytes(png(60_000, 60_000, b"\x00" * 1000))
    (folder / "just_over.png").write_bytes(png(MAX_PIXELS // 1000 + 1, 1000, b"\x00" * 1000))
    (folder / "short.png").write_bytes(png(100, 100, rows(np.full((50, 100, 3), 128, np.uint8))))
    (folder / "short_interlaced.png").write_bytes(interlaced_png(pixels, passes=6))
    (folder / "no_data.png").write_bytes(png(100, 100, b"")[:33] + chunk(b"IEND", b""))
    whole = png(100, 100, rows(np.full((100, 100, 3), 7, np.uint8)))
    (folder / "cut_mid_chunk.png").write_bytes(whole[:60])
    jpeg = (folder / "good.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    bomb = bytearray(jpeg)
    at = bomb.index(b"\xff\xc0") + 5  # the frame header: height and width
    bomb[at:at + 4] = struct.pack(">HH", 60_000, 60_000)
    (folder / "bomb.jpg").write_bytes(bomb)
    gif, webp = io.BytesIO(), io.BytesIO()
    Image.fromarray(pixels).save(gif, format="GIF")
    Image.fromarray(pixels).save(webp, format="WEBP")
    (folder / "cut.gif").write_bytes(gif.getvalue()[:-5])
    (folder / "cut.webp").write_bytes(webp.getvalue()[:100])
    (folder / "notes.txt").write_text("not a photo")
    outside.write_bytes(png(53, 37, rows(pixels)))
    (folder / "link_out.png").symlink_to(outside)
    too_big = f"more than {MAX_PIXELS:,} pixels"
    return {"bomb.png": too_big, "just_over.png": too_big, "bomb.jpg": too_big, "short.png": "cut short",
            "short_interlaced.png": "cut short", "no_data.png": "damaged", "cut_mid_chunk.png": "damaged",
            "cut.jpg": "damaged", "cut.gif": "damaged", "cut.webp": "damaged", "notes.txt": "not a JPEG, PNG",
            "link_out.png": f"a link to {outside.resolve()}, outside"}


def test_damaged_and_oversized_photos_are_skipped_with_a_reason(tmp_path: Path) -> None:
    expected = hostile_photos(tmp_path / "photos", tmp_path / "elsewhere.png")
    images, skipped = load_images(tmp_path / "photos")
    assert list(images) == ["good.jpg", "good.png", "good_interlaced.png"]
    assert torch.equal(images["good.png"], images["good_interlaced.png"])
    assert sorted(skipped) == sorted(expected)
    for name, words in expected.items():
        assert words in skipped[name] and "\n" not in skipped[name], (name, skipped[name])


@pytest.mark.parametrize("script", ["lab_pretrained.py", "exercise_08_pretrained_top5.py"])
def test_the_pretrained_scripts_skip_bad_photos_and_classify_the_others(tmp_path: Path, script: str) -> None:
    """Before: SIGSEGV at the first PNG cut short (libpng's "Not enough image data")."""
    expected = hostile_photos(tmp_path / "photos", tmp_path / "elsewhere.png")
    logs = tmp_path / "logs"
    # the lab through a Python of its own (its real entry point), the exercise in this process: its photos are
    # read as load_images reads them in this process above
    done = run_script(script.removesuffix(".py"), "--images", str(tmp_path / "photos"), "--weights", "none",
                      "--accelerator", "cpu", "--log-dir", str(logs), new_process=script == "lab_pretrained.py",
                      cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr
    printed = done.stdout.splitlines()
    for name, words in expected.items():
        (line,) = [line for line in printed if line.startswith(f"skipped {name}: ")]
        assert words in line
    assert "Image: good.png" in done.stdout and "Image: good_interlaced.png" in done.stdout
    results = next(logs.rglob("*.json"))
    assert sorted(json.loads(results.read_text())["skipped"]) == sorted(expected)


# -- 3. a data set stays in its folder; a cache agrees with its shape ----------------------------------------
def test_an_imdb_review_linked_outside_the_folder_is_skipped_with_one_line(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_aclimdb(root)
    secret = tmp_path / "passwd"
    secret.write_text("zzsecretzz root:x:0:0:root:/root:/bin/bash")
    (root / "aclImdb" / "train" / "neg" / "99999_1.txt").symlink_to(secret)
    outside_folder = tmp_path / "more_reviews"
    outside_folder.mkdir()
    (outside_folder / "7_1.txt").write_text("zzsecretzz too")
    (root / "aclImdb" / "test" / "neg" / "77_1.txt").symlink_to(outside_folder / "7_1.txt")
    dm = IMDBDataModule(data_dir=str(root), validation=4)
    with pytest.warns(UserWarning) as caught:
        dm.setup()
    lines = [str(warning.message) for warning in caught if "skipped" in str(warning.message)]
    assert lines and all(line == lines[0] for line in lines)
    assert "test/neg/77_1.txt, train/neg/99999_1.txt" in lines[0] and str(root / "aclImdb") in lines[0]
    assert dm.word_index == WORD_INDEX and "zzsecretzz" not in dm.word_index  # as without the links
    assert len(dm.train_data[1]) + len(dm.val_data[1]) == 12 and len(dm.test_data[1]) == 6


def test_imdb_reviews_in_a_sub_folder_linked_outside_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_aclimdb(root)
    shutil.move(root / "aclImdb" / "test" / "pos", tmp_path / "pos_elsewhere")
    (tmp_path / "pos_elsewhere" / "9_9.txt").write_text("zzsecretzz")
    (root / "aclImdb" / "test" / "pos").symlink_to(tmp_path / "pos_elsewhere")
    dm = IMDBDataModule(data_dir=str(root), validation=4)
    with pytest.warns(UserWarning, match=r"skipped test/pos/0_8.txt, test/pos/1_8.txt, test/pos/2_8.txt and 1 more "):
        dm.setup()
    assert len(dm.test_data[1]) == 3 and dm.test_data[1].sum() == 0  # the three negative reviews only


def test_a_linked_aclimdb_folder_is_still_read(tmp_path: Path) -> None:
    """The folder itself may live elsewhere: only links out of it are left out."""
    write_aclimdb(tmp_path / "elsewhere")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "aclImdb").symlink_to(tmp_path / "elsewhere" / "aclImdb")
    dm = IMDBDataModule(data_dir=str(tmp_path / "data"), validation=4)
    dm.setup()
    assert dm.word_index == WORD_INDEX


def forge_cache(cache: Path, damage: str) -> None:
    with np.load(cache) as file:
        arrays = {name: file[name] for name in file.files}
    tokens = arrays["train_tokens"].copy()
    if damage == "token_beyond_columns":  # the issue's: key matches, an index beyond 10,003 columns
        tokens[3] = 10_005
    elif damage == "negative_token":
        tokens[3] = -7
    elif damage == "float_tokens":
        tokens = tokens.astype(np.float64)
    elif damage == "tokens_2d":
        tokens = tokens.reshape(1, -1)
    elif damage == "offsets_past_tokens":
        arrays["train_offsets"] = arrays["train_offsets"] + 1
    elif damage == "labels_count":
        arrays["test_labels"] = arrays["test_labels"][:-1]
    elif damage == "label_two":
        arrays["test_labels"] = arrays["test_labels"].copy()
        arrays["test_labels"][0] = 2
    elif damage == "duplicate_word":
        arrays["words"] = np.array(["film", *arrays["words"][1:].tolist()[:-1], "film"])
    elif damage == "reserved_word_index":
        arrays["indices"] = arrays["indices"].copy()
        arrays["indices"][0] = 1
    elif damage == "missing_words":
        del arrays["words"]
    elif damage == "version_of_two_values":
        arrays["version"] = np.array([2, 2])
    arrays["train_tokens"] = tokens
    np.savez(cache, **arrays)


CACHE_DAMAGES = ["token_beyond_columns", "negative_token", "float_tokens", "tokens_2d", "offsets_past_tokens",
                 "labels_count", "label_two", "duplicate_word", "reserved_word_index", "missing_words",
                 "version_of_two_values"]


@pytest.mark.parametrize("damage", CACHE_DAMAGES)
def test_a_cache_that_contradicts_its_shape_is_rebuilt_with_one_line(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "data"
    write_aclimdb(root)
    first = IMDBDataModule(data_dir=str(root), validation=4)
    first.setup()
    cache = root / "imdb_cache" / "encoded_aclImdb_10000.npz"
    forge_cache(cache, damage)
    dm = IMDBDataModule(data_dir=str(root), validation=4)
    with pytest.warns(UserWarning) as caught:
        dm.setup()
    (line,) = [str(warning.message) for warning in caught if "damaged" in str(warning.message)]
    assert line.startswith(f"The cache {cache} is damaged (") and line.endswith("; rebuilding it.") and "\n" not in line
    assert dm.word_index == WORD_INDEX
    assert torch.equal(dm.train_data[0].to_dense(), first.train_data[0].to_dense())
    assert EncodedIMDB.load(cache, num_words=10_000).word_index == WORD_INDEX  # rewritten whole


def test_islp_lab_rebuilds_a_cache_with_a_token_beyond_its_columns(tmp_path: Path) -> None:
    """Before: a 45-line ValueError traceback ("a token index is 10005, beyond 10003 columns")."""
    root = tmp_path / "data"
    write_aclimdb(root)
    IMDBDataModule(data_dir=str(root), validation=4).setup()
    cache = root / "imdb_cache" / "encoded_aclImdb_10000.npz"
    forge_cache(cache, "token_beyond_columns")
    # a Python of its own: the line checked is a Python warning, which this process's tests silence
    done = subprocess.run(
        [sys.executable, "-m", "lightning_modules.runner.cli", "fit", "--config", str(ROOT / "scripts/configs/imdb_dense.yaml"),
         "--data.init_args.data_dir", str(root), "--data.init_args.validation", "4", "--trainer.max_epochs", "1",
         "--trainer.accelerator", "cpu", "--trainer.logger.init_args.save_dir", str(tmp_path / "logs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    warned = [line for line in done.stderr.splitlines() if "UserWarning: The cache" in line]
    assert len(warned) == 1 and "a train token index is outside 0..10002); rebuilding it." in warned[0]


def test_a_cifar_file_linked_outside_its_folder_refuses_the_set(tmp_path: Path) -> None:
    root = cifar_files(tmp_path / "data")
    folder = root / "cifar-100-python"
    shutil.move(folder / "train", tmp_path / "train_elsewhere")
    (folder / "train").symlink_to(tmp_path / "train_elsewhere")
    with pytest.raises(CorruptDataError) as caught:
        CIFAR100DataModule(data_dir=str(root), verify=False).setup()
    message = str(caught.value)
    assert message.startswith(f"{folder / 'train'} is a link to {(tmp_path / 'train_elsewhere').resolve()}, outside ")
    assert "\n" not in message


def test_a_linked_cifar_folder_is_still_read(tmp_path: Path) -> None:
    root = cifar_files(tmp_path / "elsewhere")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cifar-100-python").symlink_to(root / "cifar-100-python")
    dm = CIFAR100DataModule(data_dir=str(tmp_path / "data"), verify=False, validation=0.25)
    dm.setup()
    assert dm.sizes()["test"] == 20


def test_an_mnist_file_linked_outside_its_folder_refuses_the_set(mnist_root: Path, tmp_path: Path) -> None:
    raw = mnist_root / "MNIST" / "raw"
    outside = tmp_path / "labels_elsewhere"
    shutil.move(raw / "train-labels-idx1-ubyte", outside)
    (raw / "train-labels-idx1-ubyte").symlink_to(outside)
    with pytest.raises(CorruptDataError, match="train-labels-idx1-ubyte is a link to .*labels_elsewhere, outside "):
        MNISTDataModule(data_dir=str(mnist_root), verify=False).setup()
