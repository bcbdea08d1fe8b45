"""The networks of the chapter's labs, as the book builds them.

Each is a plain ``nn.Module`` that knows nothing of data modules or training;
the generic :class:`~lightning_modules.module.SimpleModule` trains any of them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class HittersMLP(nn.Module):
    """Hitters: one hidden layer of 50 ReLU units with dropout 0.4."""

    def __init__(self, input_size: int = 19, hidden: int = 50, dropout: float = 0.4) -> None:
        super().__init__()
        self.sequential = nn.Sequential(
            nn.Linear(input_size, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.sequential(x))


class MNISTMLP(nn.Module):
    """MNIST: 784-256-128-10 with ReLU and dropout 0.4 / 0.3."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Sequential(nn.Linear(28 * 28, 256), nn.ReLU(), nn.Dropout(0.4)),
            nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.3)),
            nn.Linear(128, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class MNISTLogistic(nn.Module):
    """MNIST multinomial logistic regression: Flatten then Linear(784, 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class CIFARConvBlock(nn.Module):
    """3×3 same-padded convolution, ReLU, 2×2 max-pool."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding="same")
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.activation(self.conv(x)))


class CIFARCNN(nn.Module):
    """CIFAR100: four conv blocks (32-64-128-256 channels), dropout 0.5, 1024-512-100; 964,516 parameters."""

    def __init__(self, num_classes: int = 100) -> None:
        super().__init__()
        channels = [3, 32, 64, 128, 256]
        self.conv = nn.Sequential(*[CIFARConvBlock(c_in, c_out) for c_in, c_out in zip(channels, channels[1:])])
        self.output = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(2 * 2 * 256, 512), nn.ReLU(), nn.Linear(512, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.output(torch.flatten(self.conv(x), start_dim=1))


class IMDBDense(nn.Module):
    """IMDB bag of words: 10003-16-16-1 with ReLU; one logit per review.

    ``hidden`` units per layer (the book's 16) and ``dropout`` after each (the book's none) for exercise 10.10.13.
    """

    def __init__(self, input_size: int = 10003, hidden: int = 16, dropout: float = 0.0) -> None:
        super().__init__()
        self.dense1 = nn.Linear(input_size, hidden)
        self.activation = nn.ReLU()
        self.dense2 = nn.Linear(hidden, hidden)
        self.output = nn.Linear(hidden, 1)
        # the book's network has none; exercise 10.10.13 adds dropout after each hidden layer
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(self.activation(self.dense1(x)))
        x = self.dropout(self.activation(self.dense2(x)))
        return torch.flatten(self.output(x))


class IMDBLSTM(nn.Module):
    """IMDB sequences: Embedding(10003, 32), LSTM(32), Linear(32, 1) on the last step."""

    def __init__(self, num_words: int = 10003, embedding_dim: int = 32, hidden: int = 32) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_words, embedding_dim)
        self.lstm = nn.LSTM(input_size=embedding_dim, hidden_size=hidden, batch_first=True)
        self.dense = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        val, (h_n, c_n) = self.lstm(self.embedding(x))
        return torch.flatten(self.dense(val[:, -1]))


class NYSERNN(nn.Module):
    """NYSE: RNN(3, 12) over the lags, dropout 0.1, Linear(12, 1) on the last step."""

    def __init__(self, input_size: int = 3, hidden: int = 12, dropout: float = 0.1) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden, batch_first=True)
        self.dense = nn.Linear(hidden, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        val, h_n = self.rnn(x)
        return torch.flatten(self.dense(self.dropout(val[:, -1])))


class NonLinearAR(nn.Module):
    """NYSE nonlinear autoregression: flattened lags (+ day dummies), 32 ReLU units, dropout 0.5."""

    def __init__(self, input_size: int = 20, hidden: int = 32, dropout: float = 0.5) -> None:
        super().__init__()
        self._forward = nn.Sequential(
            nn.Flatten(), nn.Linear(input_size, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self._forward(x))


class LinearAR(nn.Module):
    """NYSE linear autoregression as a network: the flattened lags, no hidden layer, Linear(15, 1)."""

    def __init__(self, input_size: int = 15) -> None:
        super().__init__()
        self._forward = nn.Sequential(nn.Flatten(), nn.Linear(input_size, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self._forward(x))


class DefaultMLP(nn.Module):
    """Default (exercise 10.10.7): one hidden layer of 10 ReLU units with dropout 0.1; one logit per card holder.

    The Hitters network's shape, written out on its own: a change to Hitters' leaves this one as it is."""

    def __init__(self, input_size: int = 3, hidden: int = 10, dropout: float = 0.1) -> None:
        super().__init__()
        self.sequential = nn.Sequential(
            nn.Linear(input_size, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.sequential(x))
