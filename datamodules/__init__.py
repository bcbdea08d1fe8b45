"""Data modules of the chapter's labs, and the book's ``SimpleDataModule`` for data sets you already have."""

from datamodules.base import InMemoryDataModule, rec_num_workers
from datamodules.batching import ShardedSampler, TensorBatches
from datamodules.simple import SimpleDataModule

__all__ = ["InMemoryDataModule", "ShardedSampler", "SimpleDataModule", "TensorBatches", "rec_num_workers"]
