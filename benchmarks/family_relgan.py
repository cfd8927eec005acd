"""RelGAN on SeqGAN's synthetic oracle and on a real corpus: does Gumbel-softmax adversarial
training after MLE pre-training beat MLE alone at the same number of steps?

**Oracle** (``oracle``: 10,000 sequences of 20 ids over 5,000 from a random LSTM, SeqGAN's
benchmark). Two runs of ``TOTAL`` steps with the model's defaults: MLE for ``PRETRAIN`` steps then
the GAN (RSGAN, 5 D updates per G update, beta_max 100 on the exponential schedule), and MLE only
(``algo.pretrain_steps=TOTAL``). Each generator writes ``N_SAMPLES`` sequences (seed 0), scored by:

- **oracle NLL**: the oracle's negative log-likelihood per token of the samples (SeqGAN's and
  RelGAN's measure of quality; lower is better). Its floor is the oracle's NLL of its own test
  sequences (its entropy rate); its ceiling a generator of uniformly random ids (SeqGAN's table
  has 10.31 for its random generator, 9.04 for MLE and 8.74 for SeqGAN, on its own oracle);
- **NLL_gen**: the generator's own NLL per token of the oracle's test sequences (RelGAN's measure
  of diversity: a generator that drops modes gives real sequences a low probability).

**Real text** (``fortunes``: Debian's fortune cookies, ``apt-get install fortunes``; skipped with a
note when they are not installed): the same two runs, then BLEU-2/3/4 of ``N_BLEU`` samples
against the whole test split and their self-BLEU-2/3/4 (Texygen's smoothing method 1); the
reference point is ``N_BLEU`` training sentences scored the same way (real text against real
text) and the self-BLEU of ``N_BLEU`` test sentences. Five sentences of each generator go in the
notes.

The budget: ``PRETRAIN`` MLE steps then ``ADVERSARIAL`` GAN steps (batch 64). Measured on the
2-core Xeon with torch on one thread while the machine's load average was about 5 (five jobs on
two cores, so about 0.4 of a core each): an MLE step took about 0.02 s and an adversarial step
about 2.0 s (five D updates on relaxed one-hot batches of 64 x 20 x 5,000 and one G update);
scaled by that share, alone about 0.01 s and 0.5-0.8 s, so the four runs train for about 4
minutes, plus the oracle's data (a few seconds) and the scoring (about 20 s).

What the same recipe gave in those runs (2,000 oracle samples, seed 0; 1,000 fortunes samples):
oracle NLL 9.038 after 1,500 MLE steps; at 1,800 steps 8.949 with 300 GAN steps against 8.973
for MLE only. Fortunes at 1,200 steps (1,000 MLE + 200 GAN): BLEU-2/3/4 0.607 / 0.310 / 0.181
against MLE only's 0.580 / 0.272 / 0.146, self-BLEU-2/3/4 0.545 / 0.279 / 0.167 against 0.544 /
0.248 / 0.131: better n-grams, somewhat less diverse (the trade-off RelGAN's beta_max controls).
"""

from __future__ import annotations

import math

import torch

FAMILY = "relgan"
PRETRAIN = 1000
ADVERSARIAL = 200
TOTAL = PRETRAIN + ADVERSARIAL
BUDGET = f"{TOTAL} steps: {PRETRAIN} MLE + {ADVERSARIAL} GAN (5 D + 1 G updates each), batch 64; MLE-only baseline"
QUICK_STEPS = 4
N_SAMPLES, QUICK_N_SAMPLES = 2000, 100
N_BLEU, QUICK_N_BLEU = 1000, 50


def pretrain_steps(ctx) -> int:
    """The MLE steps of the GAN run: ``PRETRAIN``, or half the quick run's steps."""
    return ctx.steps(TOTAL) // 2 if ctx.quick else PRETRAIN


@torch.no_grad()
def generator_nll(generator, tokens: torch.Tensor, chunk: int = 500) -> float:
    """The generator's mean NLL per token of ``tokens`` (teacher forcing)."""
    import torch.nn.functional as F

    total, count = 0.0, 0
    for start in range(0, len(tokens), chunk):
        batch = tokens[start:start + chunk]
        logits = generator.teacher_forcing(batch).float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.reshape(-1), reduction="sum").item()
        count += batch.numel()
    return total / count


def train_pair(ctx, dataset: str):
    """The GAN run and the MLE-only run of the same total steps on ``dataset``."""
    steps, pre = ctx.steps(TOTAL), pretrain_steps(ctx)
    gan = ctx.train("relgan", steps=steps, dataset=dataset, sets=[f"algo.pretrain_steps={pre}"],
                    name=f"relgan-{dataset}-gan")
    mle = ctx.train("relgan", steps=steps, dataset=dataset, sets=[f"algo.pretrain_steps={steps}"],
                    name=f"relgan-{dataset}-mle")
    return gan, mle


def oracle_scores(ctx, gan, mle) -> tuple[dict, dict]:
    from ganzoo.plugins.build import load_dataset
    from ganzoo_plugins.relgan.data import ORACLE_VOCABULARY, oracle

    n = QUICK_N_SAMPLES if ctx.quick else N_SAMPLES
    truth = oracle()
    test = load_dataset(ctx.registry, "oracle", ctx.data_dir, "test").fields["tokens"]
    metric, baseline = {}, {}
    for label, run, into in (("GAN", gan, metric), ("MLE only", mle, baseline)):
        handle = run.load()
        samples = handle.sample(n, seed=ctx.seed)
        into[f"oracle NLL ({label})"] = truth.nll(samples).mean().item()
        into[f"NLL_gen ({label})"] = generator_nll(handle.modules["generator"], test[:n])
    uniform = torch.randint(0, ORACLE_VOCABULARY, (n, test.shape[1]), generator=torch.Generator().manual_seed(ctx.seed))
    baseline["oracle NLL of its own test data (floor: entropy rate)"] = truth.nll(test[:n]).mean().item()
    baseline["oracle NLL of uniform random ids (ceiling)"] = truth.nll(uniform).mean().item()
    return metric, baseline


def text_scores(ctx, gan, mle) -> tuple[dict, dict, str]:
    from ganzoo.plugins.build import load_dataset
    from ganzoo.kinds.tokens import decode_tokens
    from ganzoo_plugins.relgan.metrics import ORDERS, bleu, ids_of, self_bleu

    n = QUICK_N_BLEU if ctx.quick else N_BLEU
    train = load_dataset(ctx.registry, "fortunes", ctx.data_dir, "train")
    test = load_dataset(ctx.registry, "fortunes", ctx.data_dir, "test")
    vocabulary = test.vocabularies["tokens"]
    references = ids_of(test.fields["tokens"], vocabulary)

    def scores(tokens: torch.Tensor) -> dict:
        hypotheses = ids_of(tokens, vocabulary)
        out = {f"BLEU-{k}": bleu(hypotheses, references, k) for k in ORDERS}
        out.update({f"self-BLEU-{k}": self_bleu(hypotheses, k) for k in ORDERS})
        return out

    metric, baseline, samples = {}, {}, []
    for label, run, into in (("GAN", gan, metric), ("MLE only", mle, baseline)):
        tokens = run.load().sample(n, seed=ctx.seed)
        into.update({f"fortunes {k} ({label})": v for k, v in scores(tokens).items()})
        samples.append(f"{label}: " + " / ".join(decode_tokens(tokens[:5], vocabulary)))
    gen = torch.Generator().manual_seed(ctx.seed)
    real = train.fields["tokens"][torch.randperm(len(train), generator=gen)[:n]]
    hypotheses = ids_of(real, vocabulary)
    for k in ORDERS:
        baseline[f"fortunes BLEU-{k} (real train sentences)"] = bleu(hypotheses, references, k)
    test_sample = ids_of(test.fields["tokens"][:n], vocabulary)
    for k in ORDERS:
        baseline[f"fortunes self-BLEU-{k} (real test sentences)"] = self_bleu(test_sample, k)
    return metric, baseline, " | ".join(samples)


def measure(ctx) -> dict:
    from ganzoo.errors import DataUnavailableError

    gan, mle = train_pair(ctx, "oracle")
    metric, baseline = oracle_scores(ctx, gan, mle)
    n = QUICK_N_SAMPLES if ctx.quick else N_SAMPLES
    notes = (f"Oracle: {n} samples (seed {ctx.seed}) per generator; the GAN run pre-trains {pretrain_steps(ctx)} "
             f"MLE steps (Adam 1e-2) then trains adversarially (Adam 1e-4, RSGAN, beta_max 100, exponential "
             "schedule over its adversarial steps); MLE only trains the same total steps. Our oracle is another "
             "N(0, 1) draw of SeqGAN's recipe, so compare with the MLE row here, not with SeqGAN's table. ")
    try:
        fgan, fmle = train_pair(ctx, "fortunes")
    except DataUnavailableError as exc:
        notes += f"fortunes skipped: {exc}"
    else:
        fmetric, fbaseline, sentences = text_scores(ctx, fgan, fmle)
        metric.update(fmetric)
        baseline.update(fbaseline)
        notes += (f"Fortunes: {QUICK_N_BLEU if ctx.quick else N_BLEU} samples against the whole test split; "
                  f"samples: {sentences}")
    for key, value in list(metric.items()) + list(baseline.items()):
        if isinstance(value, float) and not math.isfinite(value):
            notes += f" ({key} is not finite)"
    return ctx.row(gan, metric=metric, baseline=baseline, notes=notes)
