"""RelGAN and the text datasets: the seeded oracle, tokenisation and vocabulary, BLEU and
self-BLEU worked by hand, the temperature schedule, sampling as a function of the latent, one
step of each phase against a hand computation, a bitwise resume across the phase switch, bad
input in one line, and the conformance kit.

Training runs use ``text-folder`` on a tiny corpus written here (or the kit's tokens data), with
networks a few units wide; the full oracle (10,000 sequences over 5,000 ids, a few seconds to
make) is left to tests/test_zoo.py's sweep and the benchmark.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import ganzoo
from ganzoo.plugins.build import load_dataset
from ganzoo.config import resolve_config
from ganzoo.data import shape_of
from ganzoo.errors import ConfigError, DataUnavailableError
from ganzoo.kinds.tokens import decode_tokens
from ganzoo.metrics.evaluate import EvalContext
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.assemble import assemble
from ganzoo.training.context import TrainingContext
from ganzoo_plugins.relgan import data as text
from ganzoo_plugins.relgan import nets
from ganzoo_plugins.relgan.data import (OracleLSTM, build_vocabulary, encode, fortune_sentences, inverse_cdf,
                                      split_sentences, tokenize)
from ganzoo_plugins.relgan import metrics as text_metrics
from ganzoo_plugins.relgan.algorithm import gumbel_noise, mle_loss, temperature
from ganzoo_plugins.relgan.nets import MultiRepDiscriminator, TextGenerator, normal_cdf
from ganzoo_plugins.relgan.metrics import bleu, ids_of, max_counts_of, self_bleu, sentence_bleu
from ganzoo_plugins.relgan import RelGANConfig, RelGANOptions

SMALL = {"embed_dim": 8, "hidden": 16, "d_embed_dim": 8, "num_rep": 2, "ndf": 4, "d_fc": 8}
"""Networks small enough that a step takes milliseconds."""

SUBJECTS = ("the cat", "a dog", "my friend", "the old man", "a bird")
VERBS = ("sees", "likes", "finds", "follows")
OBJECTS = ("the ball", "a tree", "the river", "some bread")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder of 60 sentences (``text-folder``): 54 train, 6 test."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    lines = [f"{SUBJECTS[i % 5]} {VERBS[i % 4]} {OBJECTS[(i // 2) % 4]} ." for i in range(60)]
    (folder / "a.txt").write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    (folder / "b.txt").write_text("\n".join(lines[40:]) + "\n\n", encoding="utf-8")
    return folder


def flags(out: Path, data: Path, steps: int, *extra: str, pretrain: int = 2) -> list[str]:
    sets = [x for k, v in SMALL.items() for x in ("--set", f"arch.{k}={v}")]
    return ["--dataset", "text-folder", "--data-dir", str(data), "--steps", str(steps), "--batch-size", "4",
            "--device", "cpu", "--out", str(out), "--quiet", "--set", f"algo.pretrain_steps={pretrain}",
            "--set", "n_critic=2", *sets, *extra]


def state_of(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run_dir)
    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, result.output
    return message


# the oracle ---------------------------------------------------------------------------------

def test_inverse_cdf_worked_by_hand():
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]])).expand(5, 3)
    # cdf 0.2, 0.7, 1.0: the smallest k whose cdf exceeds u
    assert inverse_cdf(logits, torch.tensor([0.0, 0.19, 0.2, 0.69, 0.999])).tolist() == [0, 0, 1, 1, 2]


def test_the_oracle_is_seeded_and_follows_seqgans_recipe():
    a, b, c = OracleLSTM(seed=7, vocabulary=300), OracleLSTM(seed=7, vocabulary=300), OracleLSTM(seed=8, vocabulary=300)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.out.weight, c.out.weight)
    same = a.sample(64, torch.Generator().manual_seed(1)), b.sample(64, torch.Generator().manual_seed(1))
    assert torch.equal(*same) and same[0].shape == (64, 20) and same[0].dtype == torch.int64
    assert not torch.equal(same[0], a.sample(64, torch.Generator().manual_seed(2)))
    # SeqGAN's oracle: embedding 32, hidden 32, 5,000 ids, every weight N(0, 1), one bias per gate
    real = OracleLSTM()
    assert real.embedding.weight.shape == (5000, 32) and real.cell.weight_hh.shape == (128, 32)
    weights = torch.cat([p.flatten() for n, p in real.named_parameters() if n != "cell.bias_hh"])
    assert abs(weights.mean().item()) < 0.01 and abs(weights.std().item() - 1) < 0.01
    assert real.cell.bias_hh.abs().sum() == 0


def test_the_oracle_prefers_its_own_samples_to_random_ones():
    oracle = OracleLSTM(seed=3, vocabulary=500)
    own = oracle.nll(oracle.sample(400, torch.Generator().manual_seed(0))).mean().item()
    uniform = oracle.nll(torch.randint(0, 500, (400, 20), generator=torch.Generator().manual_seed(0))).mean().item()
    # its entropy rate is far below log(500) = 6.2; random ids cost more than that
    assert own < 0.7 * math.log(500) < math.log(500) < uniform
    # nll is the teacher-forced cross-entropy, worked out step by step for one sequence
    seq = oracle.sample(1, torch.Generator().manual_seed(5))[0]
    x, state, total = oracle.embedding.weight[0:1], None, 0.0
    for token in seq.tolist():
        h, c = oracle.cell(x, state)
        state = (h, c)
        total -= torch.log_softmax(oracle.out(h), dim=1)[0, token].item()
        x = oracle.embedding.weight[token:token + 1]
    assert oracle.nll(seq[None]).item() == pytest.approx(total / 20, rel=1e-5)


def test_the_oracle_dataset_is_made_from_its_seed(monkeypatch):
    monkeypatch.setattr(text, "ORACLE_TRAIN", 300)
    monkeypatch.setattr(text, "ORACLE_TEST", 100)
    train, again, test = text.load_oracle(Path("nowhere")), text.load_oracle(Path("x")), text.load_oracle(Path("x"), "test")
    assert train.fields["tokens"].shape == (300, 20) and test.fields["tokens"].shape == (100, 20)
    assert torch.equal(train.fields["tokens"], again.fields["tokens"])
    assert not torch.equal(train.fields["tokens"][:100], test.fields["tokens"])
    assert train.vocabularies["tokens"][:3] == ("t0", "t1", "t2") and train.classes["tokens"] == 5000
    fresh = OracleLSTM(text.ORACLE_SEED).sample(300, torch.Generator().manual_seed(text.ORACLE_SEED * 1000 + 1))
    assert torch.equal(train.fields["tokens"], fresh)


# tokenisation, vocabulary, the datasets ------------------------------------------------------

def test_tokenize_split_and_encode_worked_by_hand():
    assert tokenize('He said: "Don\'t PANIC!" (twice) -- ok; 42') == [
        "he", "said", ":", "don't", "panic", "!", "twice", "ok", ";", "42"]
    assert split_sentences(["hi", ".", "who", "?", "me"]) == [["hi", "."], ["who", "?"], ["me"]]
    sentences = [["b", "a", "."], ["a", "c", "."], ["a", "b", "d"]]
    # counts: a 3, . 2, b 2, c 1, d 1: words seen twice or more, most frequent first, ties a-z
    vocabulary = build_vocabulary(sentences, min_count=2)
    assert vocabulary == ("<pad>", "<eos>", "<unk>", "a", ".", "b")
    assert build_vocabulary(sentences, max_words=2, min_count=1) == ("<pad>", "<eos>", "<unk>", "a", ".")
    assert encode([["a", "z", "."], ["b"]], vocabulary, length=5).tolist() == [[3, 2, 4, 1, 0], [5, 1, 0, 0, 0]]
    with pytest.raises(ValueError, match="does not fit"):
        encode([["a"] * 5], vocabulary, length=5)
    assert ids_of(torch.tensor([[3, 2, 4, 1, 0], [5, 1, 3, 0, 0]]), vocabulary) == [[3, 2, 4], [5]]
    assert ids_of(torch.tensor([[1, 0, 7]]), None) == [[1, 0, 7]]  # the oracle's ids: no specials


def test_fortune_files_lose_attributions_and_split_into_sentences():
    entries = "Be calm. Or not!\n\t\t-- Someone\n%\nA second one?  Yes\n%\n"
    assert fortune_sentences(entries) == [["be", "calm", "."], ["or", "not", "!"], ["a", "second", "one", "?"],
                                          ["yes"]]


def test_fortunes_reads_the_data_folder_and_splits_every_tenth_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "FORTUNES_INSTALLED", tmp_path / "not-installed")
    folder = tmp_path / "data" / "fortunes"
    folder.mkdir(parents=True)
    sentences = [f"number {i} is here ." for i in range(20)] + ["too short ."]
    (folder / "wisdom").write_text("\n%\n".join(sentences) + "\n%\n", encoding="utf-8")
    (folder / "ethnic").write_text("not read at all .\n%\n", encoding="utf-8")  # not in FORTUNE_FILES
    train, test = text.load_fortunes(tmp_path / "data"), text.load_fortunes(tmp_path / "data", "test")
    vocabulary = train.vocabularies["tokens"]
    assert len(train) == 18 and len(test) == 2  # "too short ." has 2 words: dropped
    assert vocabulary == ("<pad>", "<eos>", "<unk>", ".", "here", "is", "number")  # 18 each; digits once
    decoded = decode_tokens(test.fields["tokens"], test.vocabularies["tokens"])
    assert decoded == ["number <unk> is here .", "number <unk> is here ."]  # sentences 9 and 19, digits seen once
    assert "not" not in vocabulary
    with pytest.raises(DataUnavailableError, match="apt-get install fortunes") as info:
        text.load_fortunes(tmp_path / "elsewhere")
    assert "\n" not in str(info.value)


def test_text_folder_vocabulary_and_splits(corpus, tmp_path):
    train, test = text.load_text_folder(corpus), text.load_text_folder(corpus, "test")
    assert train.fields["tokens"].shape == (54, 20) and test.fields["tokens"].shape == (6, 20)
    vocabulary = train.vocabularies["tokens"]
    assert vocabulary[:3] == ("<pad>", "<eos>", "<unk>") and vocabulary[3] == "."  # in every sentence
    lines = (corpus / "a.txt").read_text().splitlines() + (corpus / "b.txt").read_text().splitlines()
    assert decode_tokens(test.fields["tokens"], vocabulary) == [lines[i] for i in range(9, 60, 10)]
    assert train.fields["tokens"][0].tolist()[:8] == [vocabulary.index(w) for w in lines[0].split()] + [1, 0]
    # train/ and test/ subfolders are the splits
    split = tmp_path / "split"
    (split / "train").mkdir(parents=True)
    (split / "test").mkdir()
    (split / "train" / "x.txt").write_text("one two .\ntwo three .\n", encoding="utf-8")
    (split / "test" / "y.txt").write_text("two four .\n", encoding="utf-8")
    assert len(text.load_text_folder(split)) == 2
    held_out = text.load_text_folder(split, "test")
    assert decode_tokens(held_out.fields["tokens"], held_out.vocabularies["tokens"]) == ["two <unk> ."]


# BLEU and self-BLEU worked by hand ----------------------------------------------------------------

def test_bleu_worked_by_hand():
    hypothesis, references = [1, 2, 3, 4], [[1, 2, 3, 5, 6], [4, 4]]
    # p1: 1, 2, 3, 4 all in a reference = 1; p2: (1,2), (2,3) of (1,2), (2,3), (3,4) = 2/3;
    # p3: (1,2,3) of two = 1/2; p4: none of one, smoothed to 0.1 / 1.
    # closest reference length to 4 is 5 (not 2): brevity penalty exp(1 - 5/4)
    bp = math.exp(-0.25)
    assert bleu([hypothesis], references, 2) == pytest.approx(bp * math.sqrt(2 / 3))
    assert bleu([hypothesis], references, 3) == pytest.approx(bp * (1 / 3) ** (1 / 3))
    assert bleu([hypothesis], references, 4) == pytest.approx(bp * (1 / 30) ** (1 / 4))
    # a reference of length 3 ties with 5: the shorter wins, c = 4 >= 3, no penalty
    assert bleu([hypothesis], references + [[7, 7, 7]], 2) == pytest.approx(math.sqrt(2 / 3))
    # clipping: "the the the" against "the cat" matches one "the" of three
    assert bleu([[5, 5, 5]], [[5, 6, 7]], 1) == pytest.approx(1 / 3)
    assert bleu([[8, 9]], [[1, 2]], 2) == 0.0  # no unigram in common: 0 whatever the smoothing
    assert bleu([[1, 2], [8, 9]], [[1, 2]], 2) == pytest.approx(0.5)  # the mean over hypotheses
    tables = max_counts_of([[1, 1, 2], [1, 2, 2]], 2)
    assert tables[0] == {(1,): 2, (2,): 2} and tables[1] == {(1, 1): 1, (1, 2): 1, (2, 2): 1}
    assert sentence_bleu([], tables, [3], 2) == 0.0


def test_self_bleu_leaves_each_sentence_out():
    # A and B are the same; C shares 1, 2 and the bigram (1, 2) with them
    # A vs {B, C}: p1 = p2 = 1; B likewise; C vs {A, B}: p1 = 2/3, p2 = 1/2
    assert self_bleu([[1, 2, 3], [1, 2, 3], [1, 2, 4]], 2) == pytest.approx((2 + math.sqrt(1 / 3)) / 3)
    assert self_bleu([[1, 2], [3, 4]], 2) == 0.0  # a sentence never counts itself
    assert self_bleu([[1, 2], [1, 2]], 2) == 1.0
    # the leave-one-out max count: sentence 0 holds (7,) twice; without it the best count is 1
    assert self_bleu([[7, 7], [7, 8]], 1) == pytest.approx((1 / 2 + 1 / 2) / 2)
    with pytest.raises(ValueError, match="two sentences"):
        self_bleu([[1]], 2)


def test_the_metrics_refuse_what_they_cannot_score(corpus):
    real = text.load_text_folder(corpus, "test")
    context = EvalContext("text-folder", real, None)
    vocabulary = real.vocabularies["tokens"]
    assert text_metrics.bleu_metric(real.fields["tokens"], context) == {"bleu2": 1.0, "bleu3": 1.0, "bleu4": 1.0}
    with pytest.raises(ConfigError, match=f"token id {len(vocabulary)}, outside the vocabulary of {len(vocabulary)}"):
        text_metrics.bleu_metric(torch.full((2, 20), len(vocabulary)), context)
    with pytest.raises(ConfigError, match="score token ids"):
        text_metrics.self_bleu_metric(torch.zeros(2, 20), context)
    with pytest.raises(ConfigError, match="oracle-nll scores samples of the oracle dataset; text-folder has no oracle"):
        text_metrics.oracle_nll_metric(real.fields["tokens"], context)
    # on the oracle: the oracle's own NLL (rebuilt from its seed; no data is needed)
    samples = text.oracle().sample(16, torch.Generator().manual_seed(9))
    got = text_metrics.oracle_nll_metric(samples, EvalContext("oracle", real, None))
    assert got["oracle_nll"] == pytest.approx(text.oracle().nll(samples).mean().item())


# the temperature schedule -----------------------------------------------------------------------

def test_temperature_schedules_by_hand():
    assert temperature(0, 100.0, 1000) == 1.0
    assert temperature(500, 100.0, 1000) == pytest.approx(10.0)       # 100 ** 0.5
    assert temperature(250, 1000.0, 1000) == pytest.approx(1000 ** 0.25)
    assert temperature(1000, 100.0, 1000) == temperature(5000, 100.0, 1000) == pytest.approx(100.0)
    assert temperature(250, 101.0, 1000, "linear") == pytest.approx(26.0)
    assert temperature(500, 101.0, 1000, "sigmoid") == pytest.approx(51.0)
    assert temperature(250, 101.0, 1000, "quad") == pytest.approx(1 + 100 / 16)
    assert temperature(250, 101.0, 1000, "sqrt") == pytest.approx(51.0)
    assert temperature(9, 11.0, 99, "log") == pytest.approx(1 + 10 * math.log(10) / math.log(100))
    assert temperature(3, 7.0, 10, "constant") == 7.0
    with pytest.raises(ValueError, match="unknown temperature schedule"):
        temperature(1, 2.0, 10, "cubic")


def test_the_algorithm_counts_adversarial_steps_from_the_end_of_pretraining(manager, corpus, tmp_path):
    trainer = make_trainer(manager, corpus, tmp_path, steps=110, algo={"pretrain_steps": 10})
    trainer.step = 60
    assert trainer.algorithm.beta(trainer) == pytest.approx(10.0)  # 100 ** (50 / 100)
    trainer = make_trainer(manager, corpus, tmp_path / "b", steps=110,
                           algo={"pretrain_steps": 10, "temperature_steps": 200, "temperature_max": 1000})
    trainer.step = 110
    assert trainer.algorithm.beta(trainer) == pytest.approx(1000 ** 0.5)


# the networks ---------------------------------------------------------------------------------------

def fixed_distribution(probs: list[float], length: int = 6) -> TextGenerator:
    """A generator whose next-token distribution is ``probs`` whatever the prefix."""
    G = TextGenerator(len(probs), length, embed_dim=4, hidden=4)
    with torch.no_grad():
        G.out.weight.zero_()
        G.out.bias.copy_(torch.log(torch.tensor(probs)))
    return G


def test_samples_are_the_inverse_cdf_at_phi_of_the_latent():
    G = fixed_distribution([0.5, 0.3, 0.2])
    # Phi(-1) = 0.159 -> token 0; Phi(0) = 0.5 -> 1 (cdf 0.5 is not above 0.5); Phi(1) = 0.841 -> 2
    z = torch.tensor([[-1.0, 0.0, 1.0, -3.0, 0.2, 0.9]])
    assert normal_cdf(torch.tensor([0.0])).item() == 0.5
    assert G(z).tolist() == [[0, 1, 2, 0, 1, 2]]  # Phi(0.2) = 0.579 < 0.8 < Phi(0.9) = 0.816
    torch.manual_seed(0)
    G = TextGenerator(50, 20, embed_dim=8, hidden=16)
    z = G.sample_latent(8)
    first = G(z)
    assert first.dtype == torch.int64 and first.shape == (8, 20) and G.latent_dim == 20 and G.out_shape == (20,)
    assert torch.equal(first, G.eval()(z.clone())) and torch.equal(first[3:], G(z[3:]))  # row by row
    assert not torch.equal(first, G(G.sample_latent(8)))
    with pytest.raises(ConfigError, match=r"latents \[N, 20\]"):
        G(torch.zeros(2, 5))


def test_gumbel_samples_and_teacher_forcing():
    G = fixed_distribution([0.5, 0.3, 0.2])
    noise = gumbel_noise((2, 6, 3), torch.Generator().manual_seed(0), "cpu")
    ids, soft = G.gumbel(noise, beta=3.0)
    y = torch.log(torch.tensor([0.5, 0.3, 0.2])) + noise
    assert torch.equal(ids, y.argmax(-1))
    assert torch.allclose(soft, torch.softmax(3.0 * y, -1)) and soft.dtype == torch.float32
    near_one_hot = G.gumbel(noise, beta=1e4)[1]
    assert torch.allclose(near_one_hot, F.one_hot(ids, 3).float(), atol=1e-3)
    # Gumbel-max samples follow softmax(o): the token frequencies of 3,000 draws
    many = G.gumbel(gumbel_noise((500, 6, 3), torch.Generator().manual_seed(1), "cpu"), 1.0)[0]
    freq = torch.bincount(many.flatten(), minlength=3).float() / many.numel()
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2]), atol=0.03)
    logits = G.teacher_forcing(torch.tensor([[0, 1, 2, 0, 1, 2]]))
    assert logits.shape == (1, 6, 3) and torch.allclose(logits, torch.log(torch.tensor([0.5, 0.3, 0.2])))
    # the MLE loss is the mean cross-entropy: here -mean(log p) of the six tokens
    expected = -(2 * math.log(0.5) + 2 * math.log(0.3) + 2 * math.log(0.2)) / 6
    assert mle_loss(G, torch.tensor([[0, 1, 2, 0, 1, 2]])).item() == pytest.approx(expected, rel=1e-6)


def test_the_discriminator_reads_ids_as_one_hot_and_judges_each_representation():
    torch.manual_seed(0)
    D = MultiRepDiscriminator(30, 20, d_embed_dim=12, num_rep=3, ndf=5, d_fc=7, d_dropout=0.0)
    ids = torch.randint(0, 30, (4, 20))
    logits = D(ids)
    assert logits.shape == (4, 3)  # one logit per representation
    assert torch.allclose(logits, D(F.one_hot(ids, 30).float()), atol=1e-5)
    with pytest.raises(ConfigError, match="multiple of arch.num_rep"):
        MultiRepDiscriminator(30, 20, d_embed_dim=10, num_rep=3)
    with pytest.raises(ConfigError, match="shorter than the discriminator's widest convolution"):
        MultiRepDiscriminator(30, 4)


# one step of each phase --------------------------------------------------------------------------

def make_trainer(manager, data_dir, tmp_path, steps=4, arch=None, **flags) -> TrainingContext:
    from ganzoo.plugins.build import build_networks

    registry = manager.registry
    base = {"steps": steps, "batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "log_every": 1,
            "data_dir": str(data_dir), "arch": {**SMALL, **(arch or {})}}
    cfg = resolve_config(registry, "relgan", dataset="text-folder", flags={**base, **flags})
    data = load_dataset(registry, cfg.dataset, cfg.data_dir)
    nets = build_networks(registry, cfg, shape_of(data), torch.device("cpu"))
    return assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)


def test_an_mle_step_is_the_cross_entropy_at_the_pretraining_lr(manager, corpus, tmp_path):
    trainer = make_trainer(manager, corpus, tmp_path, algo={"pretrain_steps": 5})
    batch = {"tokens": text.load_text_folder(corpus).fields["tokens"][:4]}
    trainer.batch = lambda: {k: v.clone() for k, v in batch.items()}
    G, D = trainer.modules["generator"], trainer.modules["critic"]
    expected = mle_loss(G, batch["tokens"]).item()
    critic_before = [p.clone() for p in D.parameters()]
    stats = trainer.train_step()
    assert stats["g_loss"].item() == pytest.approx(expected, rel=1e-6) and stats["d_loss"].item() == 0.0
    assert trainer.optimizers["g_optim"].param_groups[0]["lr"] == 1e-2  # pretrain_lr, not g_optim's 1e-4
    assert all(torch.equal(a, b) for a, b in zip(critic_before, D.parameters()))  # D waits for the GAN
    assert mle_loss(G, batch["tokens"]).item() < expected


def test_an_adversarial_step_equals_the_hand_computation(manager, corpus, tmp_path):
    trainer = make_trainer(manager, corpus, tmp_path, arch={"d_dropout": 0.0}, n_critic=1,
                           algo={"pretrain_steps": 0, "temperature_steps": 10})
    real = text.load_text_folder(corpus).fields["tokens"][:4]
    trainer.batch = lambda: {"tokens": real.clone()}
    trainer.step = 5
    G, D = trainer.modules["generator"], trainer.modules["critic"]
    G0 = TextGenerator(G.vocabulary, 20, SMALL["embed_dim"], SMALL["hidden"])
    G0.load_state_dict(G.state_dict())
    D0 = MultiRepDiscriminator(G.vocabulary, 20, **{k: SMALL[k] for k in ("d_embed_dim", "num_rep", "ndf", "d_fc")},
                               d_dropout=0.0)
    D0.load_state_dict(D.state_dict())
    rng = torch.Generator()
    rng.set_state(trainer.rng.get_state())
    beta = 100 ** 0.5  # step 5 of 10: the exponential schedule is halfway
    stats = trainer.train_step()
    # D: rgan on D(real) - D(fake) per representation, fake from the first draw of t.rng
    with torch.no_grad():
        fake = G0.gumbel(gumbel_noise((4, 20, G.vocabulary), rng, "cpu"), beta)[1]
        d_loss = F.softplus(-(D0(real) - D0(fake))).mean()
    assert stats["d_loss"].item() == pytest.approx(d_loss.item(), rel=1e-5)
    assert stats["temperature"].item() == pytest.approx(beta)
    # G: against the updated D, with the second draw: softplus(-(D(fake) - D(real)))
    with torch.no_grad():
        fake = G0.gumbel(gumbel_noise((4, 20, G.vocabulary), rng, "cpu"), beta)[1]
        g_loss = F.softplus(-(D(fake) - D(real))).mean()
    assert stats["g_loss"].item() == pytest.approx(g_loss.item(), rel=1e-5)
    assert not torch.equal(G.out.weight, G0.out.weight) and not torch.equal(D.embedding, D0.embedding)


def test_the_gan_starts_with_a_fresh_generator_optimizer(manager, corpus, tmp_path):
    trainer = make_trainer(manager, corpus, tmp_path, algo={"pretrain_steps": 2})
    trainer.train_step()
    trainer.step = 1
    trainer.train_step()
    assert all(s["step"].item() == 2 for s in trainer.optimizers["g_optim"].state.values())
    trainer.step = 2
    trainer.train_step()
    assert all(s["step"].item() == 1 for s in trainer.optimizers["g_optim"].state.values())
    assert trainer.optimizers["g_optim"].param_groups[0]["lr"] == 1e-4


@pytest.mark.parametrize("loss", ["wgan", "wgan-gp"])
def test_penalties_clipping_and_n_critic(manager, corpus, tmp_path, loss):
    trainer = make_trainer(manager, corpus, tmp_path, loss=loss, algo={"pretrain_steps": 0})
    stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values())
    assert trainer.batches.streams[0].position == 5 * 4  # n_critic 5 batches of 4
    assert ("penalty" in stats) == (loss == "wgan-gp")
    if loss == "wgan":
        assert all(p.abs().max() <= 0.01 for p in trainer.modules["critic"].parameters())


def test_gradients_are_clipped_to_the_global_norm(manager, corpus, tmp_path):
    trainer = make_trainer(manager, corpus, tmp_path, g_optim={"name": "sgd", "lr": 1e-4},
                           algo={"pretrain_steps": 5, "grad_clip": 0.01, "pretrain_lr": 1.0})
    G = trainer.modules["generator"]
    before = [p.clone() for p in G.parameters()]
    stats = trainer.train_step()
    assert stats["g_grad_norm"].item() > 0.01  # reported before clipping
    # plain SGD at lr 1 (pretrain_lr): the step is the gradient clipped to norm 0.01
    moved = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(before, G.parameters())))
    assert moved.item() == pytest.approx(0.01, rel=1e-3)


# defaults, CLI, resume ------------------------------------------------------------------------------

def test_the_defaults(manager):
    spec = manager.registry.get("model", "relgan").spec
    assert (spec.default_loss, spec.default_dataset, spec.algorithm, spec.data_kinds) == (
        "rgan", "oracle", "relgan:relgan", ("tokens",))
    cfg = resolve_config(manager.registry, "relgan")
    assert (cfg.batch_size, cfg.n_critic, cfg.g_optim.lr, cfg.d_optim.betas) == (64, 5, 1e-4, (0.9, 0.999))
    assert cfg.eval_metrics == ["bleu", "self-bleu"]  # any text; the image default (fid) cannot score tokens
    assert RelGANOptions().temperature_max == 100.0 and RelGANOptions().temperature_schedule == "exp"
    assert RelGANConfig().num_rep == 16


def test_train_sample_and_evaluate_through_the_cli(cli, corpus, tmp_path):
    out = tmp_path / "runs"
    result = cli("train", "relgan", *flags(out, corpus, 3, "--run-name", "t"))
    assert result.exit_code == 0, result.output
    lines = (out / "t" / "samples" / "step-0000003.txt").read_text().splitlines()
    assert len(lines) >= 8 and all(isinstance(line, str) for line in lines)
    printed = cli("sample", str(out / "t"), "-n", "5", "--seed", "3")
    assert printed.exit_code == 0, printed.output
    sentences = printed.stdout.splitlines()
    assert len(sentences) == 5 and cli("sample", str(out / "t"), "-n", "5", "--seed", "3").stdout == printed.stdout
    vocabulary = text.load_text_folder(corpus).vocabularies["tokens"]
    assert all(word in vocabulary for line in sentences for word in line.split())
    assert cli("sample", str(out / "t"), "-n", "4", "--out", str(tmp_path / "s.txt")).exit_code == 0
    assert len((tmp_path / "s.txt").read_text().splitlines()) == 4
    handle = ganzoo.load(out / "t")
    assert handle.sample(4, seed=1).dtype == torch.int64
    evaluated = cli("eval", str(out / "t"), "--metrics", "bleu,self-bleu", "-n", "16", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    values = json.loads(evaluated.stdout)["metrics"]
    assert set(values) == {"bleu2", "bleu3", "bleu4", "self_bleu2", "self_bleu3", "self_bleu4"}
    assert all(0.0 <= v <= 1.0 for v in values.values())


def test_bf16_trains_on_every_cpu(cli, corpus, tmp_path):
    """MLE and GAN steps under bf16 autocast, also where oneDNN has no bf16 LSTM (AVX2-only
    CPUs: there the LSTM runs in float32, the other layers in bf16)."""
    out = tmp_path / "runs"
    bf16 = ("--run-name", "b", "--precision", "bf16", "--set", "log_every=1")
    result = cli("train", "relgan", *flags(out, corpus, 3, *bf16, pretrain=1))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "b" / "metrics.jsonl").read_text().splitlines()]
    losses = [line["g_loss"] for line in lines if "g_loss" in line]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)


def test_the_lstm_leaves_autocast_only_where_the_cpu_cannot_run_it_in_bf16(monkeypatch):
    torch.manual_seed(0)
    G = TextGenerator(vocabulary=12, length=6, embed_dim=4, hidden=5)
    tokens = torch.randint(12, (3, 6))
    with torch.no_grad():
        fp32 = G.teacher_forcing(tokens)
        monkeypatch.setattr(nets, "cpu_runs_bf16_lstm", lambda train, backward: False)
        assert torch.equal(G.teacher_forcing(tokens), fp32)  # no autocast: the same call
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fallback = G.teacher_forcing(tokens)
    assert fallback.dtype == torch.bfloat16  # the output layer still runs in bf16
    assert torch.allclose(fallback.float(), fp32, atol=0.05)


@pytest.mark.parametrize("stop", [2, 3])
def test_a_resumed_run_equals_the_uninterrupted_one_across_the_phase_switch(cli, corpus, tmp_path, stop):
    out = tmp_path / "runs"
    assert cli("train", "relgan", *flags(out, corpus, 5, "--run-name", "full")).exit_code == 0
    assert cli("train", "relgan", *flags(out, corpus, stop, "--run-name", "part")).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "5", "--quiet")
    assert result.exit_code == 0, result.output
    full, resumed = state_of(out / "full"), state_of(out / "part")
    assert sorted(full) == ["critic.safetensors", "generator.safetensors", "train_state.safetensors"]
    for name in full:
        different = [k for k in full[name] if not torch.equal(full[name][k], resumed[name][k])]
        assert not different, f"{name}: {different[:5]}"


# bad input ---------------------------------------------------------------------------------------------

def test_bad_text_input_is_refused_in_one_line(cli, tmp_path, corpus):
    out = tmp_path / "runs"
    empty = tmp_path / "empty"
    empty.mkdir()
    message = one_line_error(cli("train", "relgan", *flags(out, empty, 1)))
    assert message.startswith("error: text-folder: no .txt files in")
    (empty / "blank.txt").write_text("\n  \n", encoding="utf-8")
    assert "empty corpus" in one_line_error(cli("train", "relgan", *flags(out, empty, 1)))
    (empty / "blank.txt").write_text(" ".join(["word"] * 25) + "\n", encoding="utf-8")
    assert "1 line(s) have more than 19 tokens" in one_line_error(cli("train", "relgan", *flags(out, empty, 1)))
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "x.txt").write_bytes(b"caf\xe9 au lait\n")
    assert "x.txt: not UTF-8 text (byte 3)" in one_line_error(cli("train", "relgan", *flags(out, binary, 1)))
    message = one_line_error(cli("train", "relgan", *flags(out, tmp_path / "missing", 1)))
    assert "is not a folder" in message
    message = one_line_error(cli("train", "relgan", *flags(out, corpus, 1, "--set", "arch.num_rep=3")))
    assert "arch.d_embed_dim (8) must be a multiple of arch.num_rep (3)" in message
    message = one_line_error(cli("train", "relgan", "--dataset", "toy-ring", "--steps", "1"))
    assert "toy-ring is points data" in message
    assert not out.exists()


def test_oracle_nll_on_another_dataset_is_refused_by_eval(cli, corpus, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "relgan", *flags(out, corpus, 1, "--run-name", "r")).exit_code == 0
    message = one_line_error(cli("eval", str(out / "r"), "--metrics", "oracle-nll", "-n", "4"))
    assert "oracle-nll scores samples of the oracle dataset" in message


# the conformance kit --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kit_report():
    """The conformance kit on the plugin, once for this module (rgan and wgan-gp: the sweep in
    tests/test_zoo.py trains every loss)."""
    from ganzoo.plugins.manager import PluginManager
    from ganzoo.testing import check_plugin

    from ..conftest import register_builtins

    return check_plugin("relgan", manager=register_builtins(PluginManager(entry_points=False, warn=lambda _: None)),
                        losses=["rgan", "wgan-gp"])


def test_the_plugin_conforms_apart_from_the_algorithm_check(kit_report):
    failed = [(r.component, r.check) for r in kit_report.results if r.status == "fail"]
    assert failed == [], str(kit_report)
    passed = {r.check for r in kit_report.results if r.component == "model relgan:relgan" and r.status == "pass"}
    assert {"shapes", "safetensors", "determinism", "train[rgan]", "train[wgan-gp]", "resume", "reload"} <= passed


def test_the_whole_plugin_conforms(kit_report):
    assert kit_report.ok, str(kit_report)
