"""The in-memory base (splits, batches, shards) and the Hitters and NYSE data modules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import quiet_trainer, regression_tensors
from torch import nn
from torch.utils.data import TensorDataset

from datamodules import SimpleDataModule
from datamodules.batching import ShardedSampler, TensorBatches
from datamodules.hitters import HittersDataModule, load_hitters
from datamodules.nyse import NYSEDataModule, load_nyse
from datamodules.splitting import held_out_rows
from foundations.errors import BadArgumentError
from lightning_modules.module import SimpleModule


def make_module(validation, rows: int = 100, **kwargs) -> SimpleDataModule:
    X, y = regression_tensors(rows)
    test = TensorDataset(*regression_tensors(30, seed=1))
    module = SimpleDataModule(TensorDataset(X, y), test, validation=validation, **kwargs)
    module.setup("fit")
    return module


@pytest.mark.parametrize(
    "validation, expected", [(0.2, (80, 20, 30)), (0.25, (75, 25, 30)), (13, (87, 13, 30)), (None, (100, 0, 30))]
)
def test_validation_as_fraction_count_or_none(validation, expected):
    sizes = make_module(validation).sizes()
    assert (sizes["train"], sizes["validation"], sizes["test"]) == expected


def test_validation_as_test_set_or_dataset():
    module = make_module("test")
    assert module.val_data is module.test_data and module.sizes()["train"] == 100
    own = TensorDataset(torch.zeros(7, 4), torch.ones(7))
    module = make_module(own)
    assert module.sizes()["validation"] == 7 and torch.equal(module.val_data[1], torch.ones(7))


def test_split_is_seeded_disjoint_and_complete():
    (train_a, valid_a), (train_b, valid_b) = (held_out_rows(100, 0.2, seed=3) for _ in range(2))
    assert torch.equal(valid_a, valid_b)  # same seed, same split
    assert len(valid_a) == 20 and set(train_a.tolist()).isdisjoint(valid_a.tolist())
    assert sorted(train_a.tolist() + valid_a.tolist()) == list(range(100))
    _, valid_other = held_out_rows(100, 0.2, seed=4)
    assert not torch.equal(valid_a, valid_other)
    X, y = regression_tensors(100)
    module = SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), validation=0.2, seed=3)
    module.setup()
    assert torch.equal(module.val_data[0], X[valid_a]) and torch.equal(module.val_data[1], y[valid_a])  # rows stay aligned


@pytest.mark.parametrize("validation", [1.5, 100, 250])
def test_impossible_validation_is_refused(validation):
    with pytest.raises(ValueError, match="validation"):
        make_module(validation)


def test_setup_is_idempotent():
    module = make_module(0.2)
    train = module.train_data
    module.setup("test")
    assert module.train_data is train


def test_batches_cover_each_row_once_with_a_ragged_last_batch():
    module = make_module(0.2, batch_size=32)
    batches = list(module.train_dataloader())
    assert [len(b[0]) for b in batches] == [32, 32, 16] and len(module.train_dataloader()) == 3
    seen = torch.cat([b[0] for b in batches])
    assert torch.equal(seen[seen[:, 0].argsort()], module.train_data[0][module.train_data[0][:, 0].argsort()])


def test_shuffle_depends_on_seed_and_epoch_only():
    def order(epoch: int, seed: int = 0) -> torch.Tensor:
        sampler = ShardedSampler(50, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return sampler.indices()

    assert torch.equal(order(2), order(2))
    assert not torch.equal(order(1), order(2))
    assert not torch.equal(order(2, seed=0), order(2, seed=1))
    assert torch.equal(ShardedSampler(5, shuffle=False).indices(), torch.arange(5))


def test_evaluation_shards_count_every_row_exactly_once():
    shards = [ShardedSampler(11, shuffle=False, rank=r, world_size=3).indices() for r in range(3)]
    assert sorted(torch.cat(shards).tolist()) == list(range(11))


def test_training_shards_have_equal_length():
    shards = [ShardedSampler(11, shuffle=True, rank=r, world_size=3, pad_to_equal=True) for r in range(3)]
    assert {len(s.indices()) for s in shards} == {4} and all(len(s) == 4 for s in shards)
    assert set(torch.cat([s.indices() for s in shards]).tolist()) == set(range(11))


def test_tensor_batches_slice_every_tensor_alike():
    ids = torch.arange(10)
    batches = TensorBatches((ids, ids * 2), batch_size=4, sampler=ShardedSampler(10, shuffle=True))
    for first, second in batches:
        assert torch.equal(second, first * 2)


def test_hitters_shapes_and_dtypes():
    module = HittersDataModule()
    module.setup("fit")
    X_train, y_train = module.train_data
    assert X_train.shape == (175, 19) and y_train.shape == (175,)
    assert X_train.dtype == y_train.dtype == torch.float32
    assert module.sizes() == {"train": 175, "validation": 88, "test": 88}
    assert module.val_data is module.test_data  # the book validates on the test set
    arrays = load_hitters()
    assert torch.allclose(X_train, torch.tensor(arrays.X_train, dtype=torch.float32))
    assert "League[N]" in arrays.feature_names and len(arrays.feature_names) == 19


@pytest.mark.parametrize(
    "layout, day_of_week, shape", [("sequence", False, (5, 3)), ("flat", False, (15,)), ("flat", True, (20,))]
)
def test_nyse_layouts(layout, day_of_week, shape):
    module = NYSEDataModule(layout=layout, day_of_week=day_of_week)
    module.setup("fit")
    X_train, y_train = module.train_data
    assert X_train.shape == (4276, *shape) and X_train.dtype == torch.float32
    assert y_train.shape == (4276,) and module.sizes()["test"] == 1770


def test_nyse_sequence_is_the_flat_lags_in_time_order():
    flat, sequence = load_nyse(layout="flat"), load_nyse(layout="sequence")
    # flat columns: DJ_return_1, log_volume_1, log_volatility_1, DJ_return_2, ...; sequence: oldest lag first
    assert sequence.X_train[0, -1].tolist() == flat.X_train[0, 0:3].tolist()
    assert sequence.X_train[0, 0].tolist() == flat.X_train[0, 12:15].tolist()
    # the target is tomorrow's lag 1 of log_volume
    assert flat.X_train[1, 1] == pytest.approx(flat.y_train[0])


def test_nyse_lags_are_configurable_and_checked():
    assert load_nyse(lags=3, layout="sequence").X_train.shape[1:] == (3, 3)
    with pytest.raises(ValueError, match="flat layout"):
        load_nyse(layout="sequence", day_of_week=True)
    with pytest.raises(ValueError, match="lags"):
        load_nyse(lags=0)


# -- inputs a reader tries: taken, or refused naming the argument ----------------------------------------------------
X = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
Y_REAL = torch.randn(100, generator=torch.Generator().manual_seed(1))
FRAME = pd.DataFrame(X.numpy(), columns=list("abcd")).assign(target=Y_REAL.numpy())


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (lambda: SimpleDataModule(X.numpy(), X.numpy()), "train_dataset is one ndarray: .*give \\(X, y\\)"),
        (lambda: SimpleDataModule(FRAME, FRAME), "train_dataset is one DataFrame"),
        (lambda: SimpleDataModule([[1.0, 2.0], [3.0, 4.0]], [[1.0], [2.0]]), "train_dataset is a list of 2 lists"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL[:50])), r"test_dataset: .*test_dataset\[1\] has 50"),
        (lambda: SimpleDataModule((FRAME.assign(league="A"), FRAME["target"]), (X, Y_REAL)),
         r"train_dataset\[0\] has columns that are not numbers \(league\)"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), batch_size=2.5), "batch_size must be a whole number"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), batch_size="32"), "batch_size must be a whole number"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), validation="20"), "validation='20'"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), validation=np.float64(1.5)), "validation fraction"),
        (lambda: SimpleDataModule.fromarrays(X, Y_REAL, test="0.2"), "test='0.2'"),
        (lambda: SimpleModule.classification(nn.Linear(4, 10), num_classes="10"), "num_classes must be a whole number"),
        (lambda: SimpleModule.regression(nn.Linear(4, 1), lr="0.01"), "learning rate must be a number"),
        (lambda: SimpleModule.regression(nn.Linear), "model must be a network .*the class Linear"),
    ],
    ids=["ndarray", "dataframe", "lists", "unequal-tuple", "text-column", "batch-2.5", "batch-str",
         "validation-str", "validation-1.5", "test-str", "num-classes-str", "lr-str", "model-class"],
)
def test_a_readers_input_is_refused_naming_the_argument(attempt, expected) -> None:
    with pytest.raises(BadArgumentError, match=expected) as caught:
        attempt()
    assert "\n" not in str(caught.value)


def test_inputs_whose_meaning_is_clear_are_taken() -> None:
    # (X, y) as numpy arrays, a DataFrame and a Series; numpy numbers for counts and sizes
    dm = SimpleDataModule((FRAME[list("abcd")], FRAME["target"]), (X.numpy(), Y_REAL.numpy()),
                          validation=np.int64(20), batch_size=np.int64(16))
    dm.setup()
    assert dm.sizes() == {"train": 80, "validation": 20, "test": 100} and dm.batch_size == 16
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == y.dtype == torch.float32 and x.shape == (16, 4)
    same = SimpleDataModule(TensorDataset(X, Y_REAL), TensorDataset(X, Y_REAL), validation=20)
    same.setup()
    assert torch.equal(same.val_data[0], dm.val_data[0])  # the book's rows for the seed, whatever the input type
    fraction = SimpleDataModule.fromarrays(X, Y_REAL, test=np.float32(0.2), validation=np.float32(0.1))
    fraction.setup()
    assert fraction.sizes() == {"train": 70, "validation": 10, "test": 20}
    quiet_trainer().fit(SimpleModule.regression(nn.Linear(4, 1)), datamodule=dm)
