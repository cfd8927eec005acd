"""The ``tokens`` kind: token ids ``[N, L]`` (int64) with the field's vocabulary.

A discriminator reads generated ids as one-hot vectors over the vocabulary (in training it
gets relaxed one-hot vectors of that shape). What a person gets of generated sequences: the
sentences, one per line, decoded with the vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import ConfigError
from ..files import suffixed, write_atomically
from . import FieldKind, FieldShape

EOS, PAD, UNK = "<eos>", "<pad>", "<unk>"
"""Special tokens: decoding stops at the first ``<eos>`` and drops ``<pad>``."""

LOGGED_SENTENCES = 16
"""Sentences of a preview a run's logger receives."""


def decode_tokens(tokens: torch.Tensor, vocabulary: Sequence[str] | None) -> list[str]:
    """Sentences from token ids ``[N, L]``: words joined by spaces, up to the first
    ``<eos>``, ``<pad>`` dropped. Without a vocabulary the ids are written as numbers.

    Example::

        decode_tokens(torch.tensor([[3, 4, 1, 5]]), ["<pad>", "<eos>", "<unk>", "the", "cat", "x"])
        # ["the cat"]
    """
    tokens = torch.as_tensor(tokens)
    if tokens.dim() == 1:
        tokens = tokens.unsqueeze(0)
    if tokens.dim() != 2 or tokens.is_floating_point():
        raise ConfigError(f"tokens must be integer ids [N, L], got {tokens.dtype} {tuple(tokens.shape)}")
    lines = []
    for row in tokens.tolist():
        words = []
        for token in row:
            if vocabulary is None:
                words.append(str(token))
                continue
            if not 0 <= token < len(vocabulary):
                raise ConfigError(f"token id {token} is outside the vocabulary of {len(vocabulary)}")
            word = vocabulary[token]
            if word == EOS:
                break
            if word != PAD:
                words.append(word)
        lines.append(" ".join(words))
    return lines


def save_text(lines: Sequence[str], path: str | Path) -> Path:
    """Write one line per sentence (UTF-8), through a temporary file and a rename."""
    path = Path(path)
    text = "".join(f"{line}\n" for line in lines)
    write_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def _vocabulary(field: FieldShape | None) -> Sequence[str] | None:
    return field.vocabulary if field is not None else None


class TokensKind(FieldKind):
    name = "tokens"
    stored = "int64 [N, L] token ids"
    generated = True
    noun = "sentences"
    caption = "Sentences decoded from the fixed latents, one per line."
    pipeline_tags = {"unconditional": "text-generation", "conditional": "text-generation"}
    sample_suffixes = (".txt",)
    sample_file = None  # sentences are printed
    takes_vocabulary = True

    def validate(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.dtype != torch.int64 or tensor.dim() != 2:
            raise ValueError(f"{name} must be an int64 tensor [N, L] of token ids")

    def synthetic(self, n: int, shape: tuple[int, ...], generator: torch.Generator,
                  field: FieldShape | None = None) -> torch.Tensor:
        vocabulary = field.classes if field is not None and field.classes else 2
        return torch.randint(0, vocabulary, (n, *shape), generator=generator)

    def examples(self, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, FieldShape]:
        """Sentences of 20 tokens over 50 words that repeat word ``label``, then ``<eos>`` and padding."""
        vocabulary, length = (PAD, EOS, UNK, *(f"w{i}" for i in range(47))), 20
        tokens = torch.randint(3, len(vocabulary), (len(labels), length), generator=generator)
        tokens[:, ::2] = 3 + labels[:, None]
        tokens[:, -3] = vocabulary.index(EOS)  # then padding
        tokens[:, -2:] = vocabulary.index(PAD)
        return tokens, FieldShape(self.name, (length,), len(vocabulary), vocabulary=vocabulary)

    def check_samples(self, samples: torch.Tensor, field: FieldShape | None = None) -> str | None:
        if samples.dtype != torch.int64:
            return f"token ids must be int64, got {samples.dtype}"
        vocabulary = field.classes if field is not None else None
        if vocabulary and samples.numel() and (int(samples.min()) < 0 or int(samples.max()) >= vocabulary):
            return f"token ids must lie in 0..{vocabulary - 1}"
        return None

    def discriminator_input(self, samples: torch.Tensor, field: FieldShape | None = None) -> torch.Tensor:
        vocabulary = field.classes if field is not None else None
        if vocabulary and not samples.is_floating_point():
            return torch.nn.functional.one_hot(samples.long(), vocabulary).float()
        return samples

    def write_samples(self, samples: torch.Tensor, stem: Path, field: FieldShape | None = None, *,
                      nrow: int | None = None, reference: torch.Tensor | None = None,
                      one_by_one: int | None = None) -> list[Path]:
        return [save_text(decode_tokens(samples, _vocabulary(field)), suffixed(stem, ".txt"))]

    def logged(self, samples: torch.Tensor, field: FieldShape | None = None, *,
               wants: Callable[[str], bool] = lambda method: True, nrow: int | None = None,
               reference: torch.Tensor | None = None, one_by_one: int | None = None) -> list[tuple[str, tuple]]:
        return [("text", (decode_tokens(samples, _vocabulary(field))[:LOGGED_SENTENCES],))] if wants("text") else []

    def as_text(self, samples: torch.Tensor, field: FieldShape | None = None) -> list[str]:
        return decode_tokens(samples, _vocabulary(field))

    def npz_arrays(self, samples: torch.Tensor, field: FieldShape | None = None) -> dict[str, Any]:
        return {"tokens": samples.numpy().astype("int64")}

    def describe_output(self, shape: Sequence[int], field: FieldShape | None = None) -> dict[str, Any]:
        vocabulary = field.classes if field is not None else None
        return {"name": "tokens", "dtype": "int64", "shape": ["N", *shape],
                "description": f"token ids in 0..{(vocabulary or 0) - 1}", "range": [0, (vocabulary or 1) - 1]}

    def export_info(self, field: FieldShape | None = None) -> dict[str, Any]:
        vocabulary = _vocabulary(field)
        return {"vocabulary_size": field.classes if field is not None else None,
                "vocabulary": list(vocabulary) if vocabulary else None}


KIND = TokensKind()
