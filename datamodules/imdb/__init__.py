"""IMDB movie reviews (labs 10.9.5 and 10.9.6): binary bag-of-words or padded sequences.

Two front doors onto one encoding:

- :class:`IMDBDataModule` (``datamodules.imdb.IMDBDataModule``, as the lab
  scripts and the CLI configs name it), and
- the book's loaders :func:`load_lookup`, :func:`load_tensor`,
  :func:`load_sparse` and :func:`load_sequential`, in place of
  ``ISLP.torch.imdb``'s.

The package's parts:

- ``text``: tokenizing, the vocabulary, reviews as token indices
  (:class:`Sequences`), and the features made from them;
- ``cache``: :class:`EncodedIMDB`, a source's encoded reviews, and its cache file;
- ``sources``: the raw files (the Large Movie Review Dataset, or Keras's files),
  their checksums and download, and :func:`load_encoded`, the one way from a
  folder to its encoded reviews;
- ``synthetic``: random reviews shaped like IMDB's;
- ``datamodule``: :class:`IMDBDataModule`;
- ``book``: the book's loaders, which also read ISLP's own files.

The package exports the two front doors; import anything else from its part.
"""

from datamodules.imdb.book import load_lookup, load_sequential, load_sparse, load_tensor
from datamodules.imdb.datamodule import IMDBDataModule

__all__ = ["IMDBDataModule", "load_lookup", "load_sequential", "load_sparse", "load_tensor"]
