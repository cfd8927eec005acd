"""Text metrics: the oracle's NLL of generated sequences (SeqGAN's measure), BLEU against held-out
text (quality) and self-BLEU among the samples (diversity; Zhu et al. 2018, Texygen).

**BLEU** (Papineni et al. 2002), as Texygen and RelGAN compute it with nltk's
``sentence_bleu(references, hypothesis, weights=(1/n,) * n, smoothing_function=method1)``: each
generated sentence is a hypothesis scored against *every* reference sentence at once:

- modified ``k``-gram precision ``p_k = sum_g min(c_hyp(g), max_ref c_ref(g)) / max(1, sum_g c_hyp(g))``
  (each ``k``-gram counted at most as often as it appears in the one reference that has it most);
- smoothing method 1 (Chen & Cherry 2014): a ``p_k`` with no match becomes ``0.1 / max(1, count)``;
  with no matching unigram at all the score is 0 (nltk's rule);
- brevity penalty ``BP = 1`` if ``c >= r`` else ``exp(1 - r / c)``, ``c`` the hypothesis length
  and ``r`` the reference length closest to it (the shorter on a tie);
- ``BLEU-n = BP * exp(sum_{k=1..n} log(p_k) / n)``, averaged over the hypotheses.

**Self-BLEU-n**: each sample is the hypothesis and all the *other* samples are its references
(Texygen's parallel version; its serial one wrongly included the sentence itself).

Sentences are compared as token ids up to the first ``<eos>``, ``<pad>`` dropped
(:func:`ids_of`). Max-counts over the references are computed once (and, for self-BLEU, the two
largest, so leaving one sentence out costs nothing): linear in the number of sentences.

Example::

    bleu([[1, 2, 3, 4]], [[1, 2, 3, 4]], 2)                 # 1.0
    self_bleu([[1, 2, 3], [1, 2, 3], [4, 5, 6]], 2)         # (1 + 1 + 0) / 3: the third shares no word
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Sequence

import torch

from ganzoo.errors import ConfigError

EPSILON = 0.1
"""Smoothing method 1's count for a precision without any match (nltk's default)."""

ORDERS = (2, 3, 4)
"""The BLEU orders reported (RelGAN reports BLEU-2 to -5 on COCO; the issue asks for 2 to 4)."""


def ngrams(tokens: Sequence[int], n: int) -> Counter:
    """The ``n``-grams of ``tokens`` with their counts."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def sentence_bleu(hypothesis: Sequence[int], max_counts: Sequence[dict], ref_lengths: Sequence[int],
                  n: int) -> float:
    """BLEU-``n`` of one hypothesis given, for each order ``k`` (index ``k - 1``), every ``k``-gram's
    largest count in any one reference, and the references' lengths (see the module's docstring)."""
    if not hypothesis or not ref_lengths:
        return 0.0
    c = len(hypothesis)
    log_sum = 0.0
    for k in range(1, n + 1):
        counts = ngrams(hypothesis, k)
        matched = sum(min(count, max_counts[k - 1].get(gram, 0)) for gram, count in counts.items())
        total = max(1, sum(counts.values()))
        if matched == 0:
            if k == 1:
                return 0.0  # nltk: no unigram in common, BLEU 0 whatever the smoothing
            log_sum += math.log(EPSILON / total)
        else:
            log_sum += math.log(matched / total)
    r = min(ref_lengths, key=lambda length: (abs(length - c), length))
    brevity = 1.0 if c >= r else math.exp(1.0 - r / c)
    return brevity * math.exp(log_sum / n)


def max_counts_of(references: Sequence[Sequence[int]], n: int) -> list[dict]:
    """For each order ``k`` in 1..n: ``k``-gram -> its largest count in any one reference."""
    tables: list[dict] = [{} for _ in range(n)]
    for reference in references:
        for k in range(1, n + 1):
            table = tables[k - 1]
            for gram, count in ngrams(reference, k).items():
                if count > table.get(gram, 0):
                    table[gram] = count
    return tables


def bleu(hypotheses: Sequence[Sequence[int]], references: Sequence[Sequence[int]], n: int) -> float:
    """Mean BLEU-``n`` of ``hypotheses``, each against all ``references``.

    Example::

        bleu([[1, 2, 3, 4]], [[1, 2, 3, 5], [9, 9]], 2)   # sqrt(3/4 * 2/3) = 0.7071
    """
    if not hypotheses:
        raise ValueError("BLEU needs at least one hypothesis")
    tables = max_counts_of(references, n)
    lengths = sorted({len(r) for r in references})
    return sum(sentence_bleu(h, tables, lengths, n) for h in hypotheses) / len(hypotheses)


def self_bleu(sentences: Sequence[Sequence[int]], n: int) -> float:
    """Mean BLEU-``n`` of each sentence against all the others (diversity: lower is more varied).

    Example::

        self_bleu([[1, 2], [1, 2]], 2)   # 1.0: each is the other
    """
    if len(sentences) < 2:
        raise ValueError("self-BLEU needs at least two sentences")
    # per k-gram: the largest count, which sentence holds it, and the second largest
    top: list[dict] = [{} for _ in range(n)]
    per_sentence = []
    for index, sentence in enumerate(sentences):
        grams = [ngrams(sentence, k) for k in range(1, n + 1)]
        per_sentence.append(grams)
        for k in range(n):
            table = top[k]
            for gram, count in grams[k].items():
                first, owner, second = table.get(gram, (0, -1, 0))
                if count > first:
                    table[gram] = (count, index, first)
                elif count > second:
                    table[gram] = (first, owner, count)
    lengths = Counter(len(s) for s in sentences)
    total = 0.0
    for index, sentence in enumerate(sentences):
        others = [_LeaveOneOut(top[k], index) for k in range(n)]
        own = len(sentence)
        ref_lengths = [length for length, count in lengths.items() if length != own or count > 1]
        total += sentence_bleu(sentence, others, ref_lengths, n)
    return total / len(sentences)


class _LeaveOneOut:
    """A max-count table without one sentence: its own count is replaced by the runner-up's."""

    def __init__(self, table: dict, index: int) -> None:
        self.table, self.index = table, index

    def get(self, gram, default: int = 0) -> int:
        first, owner, second = self.table.get(gram, (default, -1, default))
        return second if owner == self.index else first


# --------------------------------------------------------------------------- token ids

def ids_of(tokens: torch.Tensor, vocabulary: Sequence[str] | None) -> list[list[int]]:
    """Each row of ``tokens`` as a list of ids up to its first ``<eos>``, with ``<pad>`` dropped
    (what BLEU compares); a vocabulary without them (the oracle's) keeps every id.

    Example::

        ids_of(torch.tensor([[5, 4, 1, 0]]), ("<pad>", "<eos>", "<unk>", "a", "b", "c"))   # [[5, 4]]
    """
    words = list(vocabulary) if vocabulary is not None else []
    eos = words.index("<eos>") if "<eos>" in words else None
    pad = words.index("<pad>") if "<pad>" in words else None
    rows = []
    for row in tokens.tolist():
        if eos is not None and eos in row:
            row = row[:row.index(eos)]
        rows.append([token for token in row if token != pad])
    return rows


def check_tokens(fake: torch.Tensor, vocabulary_size: int, dataset: str) -> torch.Tensor:
    """``fake`` as int64 ids ``[N, L]``, refused in one line when it is not token ids or holds an
    id outside the dataset's vocabulary."""
    if fake.is_floating_point() or fake.dim() != 2:
        raise ConfigError(f"text metrics score token ids [N, L]; the samples are {fake.dtype} "
                          f"{tuple(fake.shape)} (a model that does not write text?)")
    if fake.numel() and (int(fake.min()) < 0 or int(fake.max()) >= vocabulary_size):
        bad = int(fake.min()) if int(fake.min()) < 0 else int(fake.max())
        raise ConfigError(f"the samples hold token id {bad}, outside the vocabulary of {vocabulary_size} "
                          f"of {dataset} (was the model trained on another dataset?)")
    return fake.long()


def _real_tokens(context) -> tuple[torch.Tensor, tuple[str, ...] | None]:
    real = context.real
    if real.kinds.get(real.primary) != "tokens":
        raise ConfigError(f"text metrics compare token ids; {context.dataset} is {real.kinds.get(real.primary)} data")
    return real.fields[real.primary], real.vocabularies.get(real.primary)


# --------------------------------------------------------------------------- metrics

def oracle_nll_metric(fake: torch.Tensor, context) -> dict[str, Any]:
    """``oracle_nll``: the oracle's mean negative log-likelihood per token of the samples (nats)."""
    from .data import ORACLE_SEED, ORACLE_VOCABULARY, oracle

    if context.dataset != "oracle":
        raise ConfigError(f"oracle-nll scores samples of the oracle dataset; {context.dataset} has no oracle "
                          "(use bleu and self-bleu)")
    tokens = check_tokens(fake, ORACLE_VOCABULARY, context.dataset)
    return {"oracle_nll": float(oracle(ORACLE_SEED).nll(tokens).mean())}


def bleu_metric(fake: torch.Tensor, context) -> dict[str, Any]:
    """``bleu2``, ``bleu3``, ``bleu4``: each sample against the whole real split (the test split)."""
    real, vocabulary = _real_tokens(context)
    tokens = check_tokens(fake, len(vocabulary) if vocabulary else int(real.max()) + 1, context.dataset)
    hypotheses, references = ids_of(tokens, vocabulary), ids_of(real, vocabulary)
    tables = max_counts_of(references, max(ORDERS))
    lengths = sorted({len(r) for r in references})
    return {f"bleu{n}": sum(sentence_bleu(h, tables, lengths, n) for h in hypotheses) / len(hypotheses)
            for n in ORDERS}


def self_bleu_metric(fake: torch.Tensor, context) -> dict[str, Any]:
    """``self_bleu2``, ``self_bleu3``, ``self_bleu4`` of the samples."""
    _, vocabulary = _real_tokens(context)
    tokens = check_tokens(fake, len(vocabulary) if vocabulary else 1 << 62, context.dataset)
    sentences = ids_of(tokens, vocabulary)
    return {f"self_bleu{n}": self_bleu(sentences, n) for n in ORDERS}
