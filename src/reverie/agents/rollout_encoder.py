"""I2A's rollout encoder, and how the update replays what acting computed with it.

The encoder reads each imagined rollout: one strided conv per frame, the imagined reward
beside the conv's features, then an LSTM over the steps, last step first. It reads ``A x L``
frames per real frame, twice: while acting (no gradients) and in the update, with gradients,
on the same frames with the same weights. The update's forward would repeat the acting
pass's conv and input projection exactly, so :class:`Encoding` keeps them from the acting
pass and the update *replays* them (:class:`_Replay`): its forward returns the kept
projection and its backward gives the conv's and the projection's weight gradients as
autograd would have. The LSTM itself runs again (its gradient needs its own graph).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .imagination import orthogonal
from .readers import input_scale, scaled, small_reader

__all__ = ["LSTM", "RolloutEncoder", "Encoding"]


class LSTM(nn.Module):
    """A one-layer LSTM over ``[L, N, D]`` that returns its last hidden state ``[N, H]``.

    nn.LSTM's gates and initialisation, written out: the input projections of all steps are
    one matrix product, which on a CPU trains these small sizes ~1.4x faster than nn.LSTM.
    The steps are taken apart with ``unbind`` (one backward that stacks the step gradients)
    rather than indexed (each index's backward zero-fills a tensor of all steps' size).
    """

    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.input = nn.Linear(input_size, 4 * hidden)
        self.recurrent = nn.Linear(hidden, 4 * hidden, bias=False)
        bound = 1 / math.sqrt(hidden)
        for weight in (self.input.weight, self.input.bias, self.recurrent.weight):
            nn.init.uniform_(weight, -bound, bound)

    def forward(self, inputs: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """The state after reading ``inputs [L, N, D]`` in order, or last step first with ``reverse``."""
        return self.run(self.input(inputs), reverse)

    def run(self, projected: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """:meth:`forward` from the steps' input projections ``[L, N, 4H]`` (``self.input`` applied)."""
        h = c = None
        steps = projected.unbind(0)
        for step in reversed(steps) if reverse else steps:
            gates = step if h is None else step + self.recurrent(h)
            i, f, _, o = torch.sigmoid(gates).chunk(4, dim=1)
            g = torch.tanh(gates[:, 2 * self.hidden:3 * self.hidden])
            c = i * g if c is None else f * c + i * g
            h = o * torch.tanh(c)
        assert h is not None
        return h


@dataclass(eq=False)  # tensors: compared by identity
class Encoding:
    """What the acting pass computed before the LSTM, for the update to replay:
    the conv's features after the ReLU ``[L, N, F]`` and the LSTM's input projection ``[L, N, 4H]``."""

    features: torch.Tensor
    projected: torch.Tensor

    @staticmethod
    def cat(parts: Sequence["Encoding"]) -> "Encoding":
        """The encodings of consecutive row blocks as one (rows are dim 1, as the frames')."""
        return Encoding(torch.cat([p.features for p in parts], dim=1), torch.cat([p.projected for p in parts], dim=1))


class RolloutEncoder(nn.Module):
    """Imagined frames ``[L, N, C, H, W]`` and rewards ``[L, N]`` -> rollout codes ``[N, hidden]``.

    One strided conv per frame (``channels`` maps: :func:`~reverie.agents.readers.small_reader`),
    flattened, the reward appended, then an LSTM (``self.lstm``) over the steps in reverse order:
    the code is the LSTM's state after reading the first imagined step last, so the earliest
    (most trustworthy) step weighs most. The reward's column of the LSTM's input weights is
    added on its own rather than concatenated to the features, and the LSTM walks the steps
    backwards rather than reading a reversed copy: the same sums, without two copies of all
    the features and their backward.
    """

    def __init__(self, obs_shape: Sequence[int], channels: int = 8, hidden: int = 32) -> None:
        super().__init__()
        conv, size = small_reader(obs_shape, channels)
        self.conv = orthogonal(conv, math.sqrt(2))
        self.lstm = LSTM(size + 1, hidden)
        self.hidden = hidden
        self.input_scale = input_scale(obs_shape)

    def version(self) -> tuple[int, ...]:
        """Changes with any write to the encoder's weights (an :class:`Encoding` is only
        replayed with the weights it was computed with)."""
        return tuple(p._version for p in self.parameters())

    def encode(self, frames: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, Encoding]:
        """The codes, and the :class:`Encoding` that the update may replay (call without gradients)."""
        features = self._features(frames)
        projected = self._project(features, rewards)
        return self.lstm.run(projected, reverse=True), Encoding(features, projected)

    def forward(self, frames: torch.Tensor, rewards: torch.Tensor, replay: Encoding | None = None) -> torch.Tensor:
        """The codes; with ``replay`` (the acting pass's :class:`Encoding` of these very frames
        and rewards, same weights), the conv and the input projection are not computed again."""
        weight = self.lstm.input.weight
        if (replay is not None and torch.is_grad_enabled() and weight.dtype == torch.float32
                and not torch.is_autocast_enabled(frames.device.type)):  # replay reproduces float32 passes
            conv = self.conv
            projected = _Replay.apply(replay.projected, replay.features, self._inputs(frames), rewards, conv.weight,
                                      conv.bias, weight, self.lstm.input.bias, conv.stride, conv.padding)
        else:
            projected = self._project(self._features(frames), rewards)
        return self.lstm.run(projected, reverse=True)  # last imagined step first

    def _inputs(self, frames: torch.Tensor) -> torch.Tensor:
        """The conv's input: all steps' frames as one batch ``[L*N, C, H, W]``, as floats in reading scale."""
        return scaled(frames.flatten(0, 1), self.input_scale)

    def _features(self, frames: torch.Tensor) -> torch.Tensor:
        steps, n = frames.shape[:2]
        return torch.relu(self.conv(self._inputs(frames))).flatten(1).view(steps, n, -1)

    def _project(self, features: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        weight = self.lstm.input.weight  # [4H, features + 1]: the last column reads the reward
        projected = F.linear(features, weight[:, :-1], self.lstm.input.bias)
        return torch.addcmul(projected, rewards.unsqueeze(-1).to(projected.dtype), weight[:, -1])


class _Replay(torch.autograd.Function):
    """Forward: the kept projection. Backward: the gradients of the conv's and the input
    projection's weights, as autograd computes them through conv -> ReLU -> linear."""

    @staticmethod
    def forward(ctx, projected, features, inputs, rewards, conv_weight, conv_bias, weight, bias, stride, padding):
        ctx.save_for_backward(features, inputs, rewards, conv_weight, weight)
        ctx.stride, ctx.padding = stride, padding
        return projected.view_as(projected)

    @staticmethod
    def backward(ctx, grad):
        features, inputs, rewards, conv_weight, weight = ctx.saved_tensors
        grad = grad.reshape(-1, grad.shape[-1])  # [L*N, 4H]
        features = features.reshape(grad.shape[0], -1)
        wanted = ctx.needs_input_grad
        grad_weight = grad_bias = grad_conv_weight = grad_conv_bias = None
        if wanted[6]:
            grad_weight = torch.cat((grad.t() @ features, grad.t() @ rewards.reshape(-1, 1).to(grad.dtype)), dim=1)
        if wanted[7]:
            grad_bias = grad.sum(0)
        if wanted[4] or wanted[5]:
            grad_features = torch.ops.aten.threshold_backward(grad @ weight[:, :-1], features, 0)  # through the ReLU
            maps = conv_weight.shape[0]
            grad_maps = grad_features.view(grad.shape[0], maps, *_out_size(inputs, conv_weight, ctx.stride, ctx.padding))
            _, grad_conv_weight, grad_conv_bias = torch.ops.aten.convolution_backward(
                grad_maps, inputs, conv_weight, [maps], list(ctx.stride), list(ctx.padding), [1, 1],
                False, [0, 0], 1, [False, wanted[4], wanted[5]])
        return None, None, None, None, grad_conv_weight, grad_conv_bias, grad_weight, grad_bias, None, None


def _out_size(inputs: torch.Tensor, conv_weight: torch.Tensor, stride, padding) -> tuple[int, int]:
    """The conv's output height and width for these inputs."""
    h, w = inputs.shape[-2:]
    kh, kw = conv_weight.shape[-2:]
    return (h + 2 * padding[0] - kh) // stride[0] + 1, (w + 2 * padding[1] - kw) // stride[1] + 1
