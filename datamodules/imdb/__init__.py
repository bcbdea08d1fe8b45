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
"""

from datamodules.imdb.book import ISLP_MD5, ISLP_URL, load_lookup, load_sequential, load_sparse, load_tensor
from datamodules.imdb.cache import CACHE_DIR, CACHE_ERRORS, EncodedIMDB, StaleCacheError, cache_path
from datamodules.imdb.datamodule import Features, IMDBDataModule
from datamodules.imdb.sources import (
    ARCHIVE,
    ARCHIVE_URL,
    CHECKSUMS,
    KERAS_REVIEWS,
    KERAS_URL,
    KERAS_WORDS,
    encode_keras,
    encode_reviews,
    fingerprint,
    load_encoded,
    read_reviews,
    verify_checksum,
)
from datamodules.imdb.synthetic import synthetic_imdb
from datamodules.imdb.text import (
    OOV,
    PAD,
    RESERVED,
    START,
    Sequences,
    bag_of_words,
    build_word_index,
    encode_texts,
    pad_sequences,
    tokenize,
)

__all__ = [
    "ARCHIVE", "ARCHIVE_URL", "CACHE_DIR", "CACHE_ERRORS", "CHECKSUMS", "ISLP_MD5", "ISLP_URL", "KERAS_REVIEWS",
    "KERAS_URL", "KERAS_WORDS", "OOV", "PAD", "RESERVED", "START",
    "EncodedIMDB", "Features", "IMDBDataModule", "Sequences", "StaleCacheError",
    "bag_of_words", "build_word_index", "cache_path", "encode_keras", "encode_reviews", "encode_texts", "fingerprint",
    "load_encoded", "load_lookup", "load_sequential", "load_sparse", "load_tensor", "pad_sequences",
    "read_reviews", "synthetic_imdb", "tokenize", "verify_checksum",
]
