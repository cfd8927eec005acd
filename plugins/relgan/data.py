"""Text datasets as token ids: SeqGAN's synthetic oracle (``oracle``), a real corpus shipped by a
Debian package (``fortunes``), and a folder of the user's own sentences (``text-folder``).

Every dataset is one field ``tokens``: int64 ``[N, LENGTH]`` (``LENGTH`` = 20, the length of
SeqGAN's oracle and of RelGAN's experiments), with its vocabulary in
``ItemData(vocabularies={"tokens": words})`` so a checkpoint decodes its samples without the data.

**The oracle** (Yu et al. 2017, SeqGAN, synthetic data experiment): an LSTM language model with embedding 32,
hidden 32 and a 5,000-word vocabulary whose every parameter is drawn from N(0, 1) (its
``target_lstm``), started from token 0's embedding. It generates 10,000 training sequences of
length 20 (and 2,000 more for the test split), on one torch thread so the data does not
depend on the machine's core count (a few seconds, once per process). Its own negative log-likelihood of a generator's
samples, ``oracle NLL = -1/L sum_t log p_oracle(x_t | x_<t)`` per token, is the benchmark's
measure: the oracle is rebuilt from :data:`ORACLE_SEED` by the metric, never read from data.
SeqGAN's weights came from TensorFlow's seeded generator, so our oracle is another draw of the
same recipe: compare our runs with our own MLE baseline, not with SeqGAN's table.

**Real text**: sentences are tokenised (:func:`tokenize`: lower-case words, with inner
apostrophes, and the punctuation ``. , ! ? ; :`` as tokens), split after ``.``, ``!`` and ``?``
(fortunes; a folder's lines are sentences already), and kept when they have at most
``LENGTH - 1`` tokens, leaving room for ``<eos>``; longer ones are dropped. Every 10th sentence
(index 9, 19, ...) is the test split, the rest the train split (a folder with ``train/`` and
``test/`` subfolders keeps its own split). The vocabulary (:func:`build_vocabulary`) is
``<pad>`` (0), ``<eos>`` (1), ``<unk>`` (2), then the training split's words seen at least
``MIN_COUNT`` times, most frequent first, at most ``MAX_WORDS``; every other word becomes
``<unk>``. A sentence is encoded as its ids, ``<eos>``, then ``<pad>`` up to ``LENGTH``.

``fortunes``: the fortune-cookie quotations of Debian's ``fortunes`` and ``fortunes-min``
packages (fortune-mod 1.99.1; ``apt-get install fortunes``), from ``DATA/fortunes/`` or where
the packages install them, ``/usr/share/games/fortunes/``; the files named in
:data:`FORTUNE_FILES` (the themed collections, leaving out the offensive-leaning ones such as
``ethnic``, ``men-women``, ``drugs`` and ``politics``). Attribution lines (``-- Author``) are
dropped; a sentence needs at least 3 word tokens.

Example::

    data = load_oracle(Path("."), "train")        # tokens [10000, 20] over 5,000 ids
    load_text_folder(Path("my_sentences"), "test") # every 10th line of the .txt files
    tokenize("Don't panic!")                       # ["don't", "panic", "!"]
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from ganzoo.data import ItemData
from ganzoo.errors import ConfigError, DataUnavailableError

LENGTH = 20
"""Tokens per sequence (SeqGAN's and RelGAN's sequence length)."""

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIALS = (PAD, EOS, UNK)
"""The first three words of every real-text vocabulary: ids 0, 1 and 2."""

MAX_WORDS = 5000
"""At most this many words besides the special ones (RelGAN's COCO vocabulary is 4,682)."""

MIN_COUNT = 2
"""A word must appear this often in the training sentences to get its own id."""

TEST_EVERY = 10
"""Sentence ``i`` is held out for the test split when ``i % TEST_EVERY == TEST_EVERY - 1``."""

# --------------------------------------------------------------------------- the oracle

ORACLE_SEED = 88
"""The seed the oracle's weights are drawn from (its identity: the metric rebuilds it from this)."""

ORACLE_VOCABULARY = 5000
ORACLE_EMBED, ORACLE_HIDDEN = 32, 32
ORACLE_TRAIN, ORACLE_TEST = 10_000, 2_000
"""SeqGAN's oracle: 5,000 ids, embedding 32, hidden 32; 10,000 training sequences (2,000 test)."""

ORACLE_START = 0
"""The token whose embedding starts every sequence (SeqGAN's start token 0)."""


def inverse_cdf(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Draw one category per row of ``logits`` ``[N, V]`` from ``softmax(logits)`` by inverting
    its cumulative distribution at ``u`` ``[N]`` in [0, 1): the smallest ``k`` with
    ``p_0 + ... + p_k > u``. The same ``u`` always gives the same token, which makes sampling a
    deterministic function of the noise (a generator's latent, a seeded stream).

    Example::

        inverse_cdf(torch.log(torch.tensor([[0.2, 0.5, 0.3]])), torch.tensor([0.6]))  # tensor([1])
    """
    cdf = torch.softmax(logits.float(), dim=-1).cumsum(dim=-1)
    # u times the last value (not 1): float rounding may leave the sum a hair below 1
    target = (u.to(cdf.dtype) * cdf[:, -1]).unsqueeze(1)
    return torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_(max=logits.shape[-1] - 1)


class OracleLSTM(nn.Module):
    """SeqGAN's oracle language model: an LSTM (embedding ``embed``, hidden ``hidden``) over
    ``vocabulary`` ids with every weight and bias drawn from N(0, 1) by a generator seeded with
    ``seed`` (one bias per gate, as SeqGAN's ``target_lstm``; torch's second LSTM bias is 0).

    Example::

        oracle = OracleLSTM(seed=ORACLE_SEED)
        tokens = oracle.sample(100, torch.Generator().manual_seed(1))   # [100, 20]
        oracle.nll(tokens).mean()                                       # about its entropy rate
    """

    def __init__(self, seed: int = ORACLE_SEED, vocabulary: int = ORACLE_VOCABULARY, embed: int = ORACLE_EMBED,
                 hidden: int = ORACLE_HIDDEN, length: int = LENGTH) -> None:
        super().__init__()
        self.length = length
        self.embedding = nn.Embedding(vocabulary, embed)
        self.cell = nn.LSTMCell(embed, hidden)
        self.out = nn.Linear(hidden, vocabulary)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():  # a fixed order: the names are sorted by nn.Module
                p.copy_(torch.randn(p.shape, generator=gen))
            self.cell.bias_hh.zero_()
        self.requires_grad_(False)

    def _step(self, x: torch.Tensor, state):
        h, c = self.cell(x, state)
        return self.out(h), (h, c)

    def _start(self, n: int) -> torch.Tensor:
        return self.embedding.weight[ORACLE_START].expand(n, -1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, chunk: int = 2000) -> torch.Tensor:
        """``n`` sequences (int64 ``[n, length]``), each token drawn from the oracle's softmax by
        :func:`inverse_cdf` with uniforms from ``generator``."""
        out = []
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            x, state, tokens = self._start(m), None, []
            for _ in range(self.length):
                logits, state = self._step(x, state)
                token = inverse_cdf(logits, torch.rand(m, generator=generator))
                tokens.append(token)
                x = self.embedding(token)
            out.append(torch.stack(tokens, dim=1))
        return torch.cat(out)

    @torch.no_grad()
    def nll(self, tokens: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
        """Each sequence's negative log-likelihood per token under the oracle, ``[N]`` (nats)."""
        out = []
        for start in range(0, len(tokens), chunk):
            batch = tokens[start:start + chunk].long()
            x, state, total = self._start(len(batch)), None, torch.zeros(len(batch))
            for t in range(batch.shape[1]):
                logits, state = self._step(x, state)
                total -= torch.log_softmax(logits.float(), dim=-1).gather(1, batch[:, t:t + 1]).squeeze(1)
                x = self.embedding(batch[:, t])
            out.append(total / batch.shape[1])
        return torch.cat(out)


@functools.lru_cache(maxsize=2)
def oracle(seed: int = ORACLE_SEED) -> OracleLSTM:
    """The oracle of ``seed`` (built once per process; it is frozen)."""
    return OracleLSTM(seed)


@contextlib.contextmanager
def one_thread():
    """torch on one thread inside: the oracle's data then does not depend on the machine's core
    count (a parallel matrix product may round differently), and a busy machine does not slow
    it down (tiny parallel ops wait on each other when cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@functools.lru_cache(maxsize=4)
def oracle_tokens(seed: int, split: str, n: int) -> torch.Tensor:
    """``n`` sequences of the oracle of ``seed`` for ``split`` (train and test draw from streams
    of their own), made once per process: a few seconds for the 10,000 training sequences
    (200,000 softmaxes over 5,000 ids)."""
    stream = torch.Generator().manual_seed(seed * 1000 + (1 if split == "train" else 2))
    with one_thread():
        return oracle(seed).sample(n, stream)


def oracle_vocabulary(size: int = ORACLE_VOCABULARY) -> tuple[str, ...]:
    """Names for the oracle's ids (``t0``, ``t1``, ...): it has no words and no ``<eos>``."""
    return tuple(f"t{i}" for i in range(size))


def load_oracle(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``oracle``: 10,000 (train) or 2,000 (test) sequences sampled from the oracle of
    :data:`ORACLE_SEED`; made in memory, so ``data_dir`` is not read."""
    split = "train" if split == "train" else "test"
    tokens = oracle_tokens(ORACLE_SEED, split, ORACLE_TRAIN if split == "train" else ORACLE_TEST).clone()
    return ItemData({"tokens": tokens}, vocabularies={"tokens": oracle_vocabulary()})


# --------------------------------------------------------------------------- real text

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[.,!?;:]")
"""A token: a run of letters or digits (with inner apostrophes, ``don't``), or one of ``. , ! ? ; :``."""

SENTENCE_END = frozenset(".!?")


def tokenize(text: str) -> list[str]:
    """Lower-case tokens of ``text`` (see :data:`WORD`); anything else (quotes, brackets,
    dashes) separates tokens and is dropped.

    Example::

        tokenize('He said: "Don\\'t panic!" (twice)')   # ['he', 'said', ':', "don't", 'panic', '!', 'twice']
    """
    return WORD.findall(text.lower())


def split_sentences(tokens: Sequence[str]) -> list[list[str]]:
    """Sentences of a token stream, each ending after ``.``, ``!`` or ``?`` (a trailing part
    without one is a sentence too).

    Example::

        split_sentences(["hi", ".", "who", "?", "me"])   # [["hi", "."], ["who", "?"], ["me"]]
    """
    sentences, current = [], []
    for token in tokens:
        current.append(token)
        if token in SENTENCE_END:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def build_vocabulary(sentences: Iterable[Sequence[str]], max_words: int = MAX_WORDS,
                     min_count: int = MIN_COUNT) -> tuple[str, ...]:
    """``<pad>``, ``<eos>``, ``<unk>``, then the words seen at least ``min_count`` times, most
    frequent first (ties in alphabetical order), at most ``max_words`` of them.

    Example::

        build_vocabulary([["a", "b", "a"], ["c", "b", "a"]], min_count=2)   # ('<pad>', '<eos>', '<unk>', 'a', 'b')
    """
    counts = Counter(word for sentence in sentences for word in sentence if word not in SPECIALS)
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return SPECIALS + tuple(words[:max_words])


def encode(sentences: Sequence[Sequence[str]], vocabulary: Sequence[str], length: int = LENGTH) -> torch.Tensor:
    """int64 ``[N, length]``: each sentence's ids (unknown words as ``<unk>``), ``<eos>``, then
    ``<pad>``. Every sentence must have at most ``length - 1`` tokens.

    Example::

        encode([["a", "z"]], ("<pad>", "<eos>", "<unk>", "a"), length=5)   # [[3, 2, 1, 0, 0]]
    """
    index = {word: i for i, word in enumerate(vocabulary)}
    unk, eos, pad = index[UNK], index[EOS], index[PAD]
    out = torch.full((len(sentences), length), pad, dtype=torch.int64)
    for row, sentence in enumerate(sentences):
        if len(sentence) > length - 1:
            raise ValueError(f"a sentence of {len(sentence)} tokens does not fit {length} with <eos>")
        ids = [index.get(word, unk) for word in sentence] + [eos]
        out[row, :len(ids)] = torch.tensor(ids, dtype=torch.int64)
    return out


def fits(sentence: Sequence[str], length: int = LENGTH, min_words: int = 1) -> bool:
    """Whether a sentence is kept: at most ``length - 1`` tokens and ``min_words`` word tokens."""
    words = sum(1 for token in sentence if token[0].isalnum())
    return len(sentence) <= length - 1 and words >= min_words


def split_every(sentences: Sequence[Sequence[str]], split: str) -> list[Sequence[str]]:
    """The ``train`` or ``test`` part: every :data:`TEST_EVERY`-th sentence is held out."""
    test = [i % TEST_EVERY == TEST_EVERY - 1 for i in range(len(sentences))]
    return [s for s, held in zip(sentences, test) if held == (split == "test")]


def text_data(train: Sequence[Sequence[str]], sentences: Sequence[Sequence[str]], where: str) -> ItemData:
    """``tokens`` of ``sentences`` over the vocabulary of the ``train`` sentences."""
    if not sentences:
        raise ConfigError(f"{where}: this split has no sentence")
    vocabulary = build_vocabulary(train)
    return ItemData({"tokens": encode(sentences, vocabulary)}, vocabularies={"tokens": vocabulary})


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; a file that is not UTF-8 is refused in one line."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); convert it, e.g. with iconv") from None
    except OSError as exc:
        raise DataUnavailableError(f"cannot read {path}: {exc.strerror or exc}") from None


# fortunes --------------------------------------------------------------------------------

FORTUNE_FILES = ("art", "computers", "cookie", "education", "food", "fortunes", "goedel", "humorists", "kids",
                 "law", "linux", "literature", "love", "magic", "medicine", "miscellaneous", "paradoxum",
                 "people", "pets", "platitudes", "science", "songs-poems", "sports", "startrek", "tao", "wisdom",
                 "work")
"""The fortune collections read (``fortunes`` and ``literature`` come from ``fortunes-min``)."""

FORTUNES_INSTALLED = Path("/usr/share/games/fortunes")
"""Where Debian's ``fortunes`` and ``fortunes-min`` packages put the collections."""

FORTUNE_MIN_WORDS = 3
"""Fortune sentences need this many word tokens (drops fragments such as ``k : yes .``)."""

ATTRIBUTION = re.compile(r"^\s*--")


def fortune_sentences(text: str) -> list[list[str]]:
    """The sentences of one fortune file: entries end at a line ``%``; lines starting with
    ``--`` (attributions) are dropped; see :func:`tokenize` and :func:`split_sentences`.

    Example::

        fortune_sentences("Be calm. Or not!\\n\\t\\t-- Me\\n%\\nHi\\n")   # [['be', 'calm', '.'], ['or', 'not', '!'], ['hi']]
    """
    sentences = []
    for entry in re.split(r"^%[ \t]*$", text, flags=re.MULTILINE):
        lines = [line for line in entry.splitlines() if not ATTRIBUTION.match(line)]
        sentences += split_sentences(tokenize(" ".join(lines)))
    return sentences


def fortunes_folder(data_dir: Path) -> Path:
    """``DATA/fortunes`` when it holds any of :data:`FORTUNE_FILES`, else the installed ones."""
    for folder in (Path(data_dir) / "fortunes", FORTUNES_INSTALLED):
        if any((folder / name).is_file() for name in FORTUNE_FILES):
            return folder
    raise DataUnavailableError(
        f"fortunes: no fortune files in {Path(data_dir) / 'fortunes'} or {FORTUNES_INSTALLED}; install them "
        "with `apt-get install fortunes` (Debian/Ubuntu), or copy that folder to DATA/fortunes")


@functools.lru_cache(maxsize=2)
def _fortune_corpus(folder: str, stamp: tuple) -> tuple[tuple[str, ...], ...]:
    sentences = []
    for name in FORTUNE_FILES:
        path = Path(folder) / name
        if path.is_file():
            sentences += [s for s in fortune_sentences(read_text(path)) if fits(s, min_words=FORTUNE_MIN_WORDS)]
    return tuple(tuple(s) for s in sentences)


def load_fortunes(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``fortunes``: the sentences of :data:`FORTUNE_FILES` (see the module's docstring)."""
    folder = fortunes_folder(data_dir)
    stamp = tuple((name, (folder / name).stat().st_mtime_ns) for name in FORTUNE_FILES if (folder / name).is_file())
    sentences = _fortune_corpus(str(folder), stamp)
    if not sentences:
        raise ConfigError(f"fortunes: no sentence of at most {LENGTH - 1} tokens in {folder}")
    return text_data(split_every(sentences, "train"), split_every(sentences, split), f"fortunes in {folder}")


# a folder of the user's sentences ------------------------------------------------------------

def _folder_sentences(files: Sequence[Path]) -> tuple[list[list[str]], int]:
    """(kept sentences, lines dropped as too long) of ``files``, one sentence per line."""
    kept, dropped = [], 0
    for path in files:
        for line in read_text(path).splitlines():
            tokens = tokenize(line)
            if not tokens:
                continue
            if fits(tokens):
                kept.append(tokens)
            else:
                dropped += 1
    return kept, dropped


def _txt_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".txt" and p.is_file())


def load_text_folder(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``text-folder``: every ``.txt`` file under ``data_dir`` (searched recursively, UTF-8), one
    sentence per line. With ``train/`` and ``test/`` subfolders those are the splits; otherwise
    every 10th sentence is the test split. Lines with more than ``LENGTH - 1`` tokens are dropped.

    Raises:
        DataUnavailableError: the folder is missing or holds no ``.txt`` file.
        ConfigError: the files hold no usable sentence, or a file is not UTF-8.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataUnavailableError(f"text-folder: {folder} is not a folder; pass --data-dir FOLDER of .txt files")
    layout = (folder / "train").is_dir()
    train_files = _txt_files(folder / "train" if layout else folder)
    if not train_files:
        raise DataUnavailableError(f"text-folder: no .txt files in {folder / 'train' if layout else folder} "
                                   "(one sentence per line)")
    sentences, dropped = _folder_sentences(train_files)
    if not sentences:
        longest = f"; {dropped} line(s) have more than {LENGTH - 1} tokens" if dropped else ""
        raise ConfigError(f"text-folder: empty corpus: no sentence in the .txt files of {folder}{longest}")
    if layout:
        train = sentences
        if split == "train":
            chosen = sentences
        else:
            test_files = _txt_files(folder / "test")
            if not test_files:
                raise DataUnavailableError(f"text-folder: {folder / 'test'} holds no .txt files for the test split")
            chosen = _folder_sentences(test_files)[0]
    else:
        train, chosen = split_every(sentences, "train"), split_every(sentences, split)
    if not train:
        raise ConfigError(f"text-folder: {folder} has {len(sentences)} sentence(s); the train split needs more")
    return text_data(train, chosen, f"text-folder {folder} ({split} split; every {TEST_EVERY}th sentence is test)")
