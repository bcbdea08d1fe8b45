"""Data modules of the chapter's labs: load once, split, serve slices of in-memory tensors."""

from datamodules.base import InMemoryDataModule, ShardedSampler, SimpleDataModule, TensorBatches

__all__ = ["InMemoryDataModule", "ShardedSampler", "SimpleDataModule", "TensorBatches"]
