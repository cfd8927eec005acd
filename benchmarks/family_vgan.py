"""VGAN on moving-mnist-32: do the generated frames look like Moving MNIST frames, do the digits
keep their identity across a clip, and do they move like the real ones?

One run with the model's defaults (two-stream G and 3-D conv D with ngf = ndf = 32, latent 100,
bce, Adam 2e-4 betas (0.5, 0.999), batch 32, mask sparsity 0.1: the paper's recipe, networks
halved for 32x32 x 16 clips). Then ``N_CLIPS`` generated clips are scored against the first
``N_CLIPS`` clips of the moving-mnist-32 test split (made from the MNIST test digits):

- **frame FID**: FID between the ``moving-mnist-classifier``'s 128-d features of every generated
  frame and of every real test frame (``N_CLIPS`` x 16 frames each side). The same number for
  ``N_CLIPS`` real *train* clips against the test clips is the floor a perfect generator would
  reach at this sample size.
- **temporal consistency**: fraction of clips whose predicted digit set is the same non-empty set
  in every frame; frame agreement and recognised frames beside it
  (:func:`ganzoo_plugins.vgan.metrics.temporal_consistency`). Real test clips: the ceiling.
- **motion** (mean |x[t+1] - x[t]|) and **motion order** (change two frames apart over it:
  about 1 for frames in random order, above 1 for smooth motion). Two baselines show what frame
  FID and consistency cannot see: the real clips with their frames **shuffled in time** (same
  frames and digits, so same FID and consistency; the order breaks) and **frozen** (the first
  frame repeated: no motion at all).

The untrained generator (built with the run's seed) is the floor of the FID and the motion; its
near-constant clips are trivially "consistent", as frozen clips are. Scored with the cached
classifier, an 800-step run of these defaults (a development run, not this module's budget) gave
frame FID 608 (untrained G 1113, real train vs test clips 4.3), consistency 0.0 / frame agreement
0.42 (real 0.45 / 0.89), motion 0.123 and motion order 1.22 (real 0.096 and 1.34, shuffled real
1.04). The grid: 4 generated clips (a row of 16 frames each) over 4 real test clips.
"""

from __future__ import annotations

import torch

FAMILY = "vgan"
STEPS = 1000
"""The training budget: 1,000 steps of batch 32 (32,000 real clips seen by D, about 3 epochs of
the 10,000 training clips). Measured on the 2-core Xeon: ``ganzoo bench vgan --dataset
moving-mnist-32`` says 39.6 GFLOP a step; an 800-step run went at 106 clips/s (0.30 s a step) while
one other job shared the machine (load ~3.9) and at 13-28 clips/s while four did (load 5-7, the
threads oversubscribed). Alone: about 0.3 s a step, so about 5 minutes of training, plus about
two minutes for the frame classifier on first use and ~30 s of scoring. Far from the paper's
budget (batch 64, 32 frames at 64x64, on a GPU): at 800 steps the clips show moving strokes and
digit-like shapes with transposed-conv grid artefacts, not clean digits."""
BUDGET = f"{STEPS} steps, batch 32, bce (the paper's), moving-mnist-32 (16 frames of 32x32)"
QUICK_STEPS = 4
N_CLIPS, QUICK_N_CLIPS = 500, 24


def frame_fid(extractor, real: torch.Tensor, fake: torch.Tensor) -> float:
    from ganzoo.metrics.scores import fid

    return fid(extractor.features(real), extractor.features(fake))["fid"]


def clip_scores(extractor, clips: torch.Tensor, real: torch.Tensor) -> dict:
    """Frame FID against ``real``, temporal consistency and motion of ``clips`` ([-1, 1])."""
    from ganzoo_plugins.vgan.metrics import motion_statistics, temporal_consistency

    logits = extractor.logits(clips).view(clips.shape[0], clips.shape[2], -1)
    return {"frame FID": frame_fid(extractor, real, clips), **temporal_consistency(logits),
            **motion_statistics(clips)}


def frame_classifier(ctx):
    """The cached ``moving-mnist-classifier`` (trained on first use); with ``--quick`` a
    1-epoch classifier on 200 clips, not cached (so a smoke run never replaces the real one)."""
    from ganzoo_plugins.vgan import metrics as vm

    if not ctx.quick:
        return vm.load_moving_mnist_classifier("cpu", ctx.data_dir)
    net, info = vm.fit_frame_classifier(ctx.data_dir, epochs=1, limit=200, seed=ctx.seed)
    return vm.as_extractor(net, "quick-not-cached", info)


def measure(ctx) -> dict:
    from ganzoo.plugins.build import load_dataset
    from ganzoo.data import shape_of
    from ganzoo.kinds.video import KIND as VIDEO
    from ganzoo.kinds.video import save_video_strip
    from ganzoo_plugins.vgan.nets import build
    from ganzoo_plugins.vgan import VGANConfig

    run = ctx.train("vgan", steps=ctx.steps(STEPS))
    handle = run.load()
    n = QUICK_N_CLIPS if ctx.quick else N_CLIPS
    extractor = frame_classifier(ctx)

    test = load_dataset(ctx.registry, "moving-mnist-32", ctx.data_dir, "test")
    train = load_dataset(ctx.registry, "moving-mnist-32", ctx.data_dir, "train")
    real = VIDEO.prepare(test.fields["video"][:n])
    other_real = VIDEO.prepare(train.fields["video"][:n])
    fake = handle.sample(n, seed=ctx.seed)

    torch.manual_seed(ctx.seed)  # the run's initial generator: train seeds torch before build
    untrained = build(VGANConfig(**run.run.config.arch), shape_of(test)).generator.eval()
    with torch.no_grad():
        floor = torch.cat([untrained(torch.randn(50, untrained.latent_dim)) for _ in range(0, n, 50)])[:n]
        z = torch.randn(n, handle.modules["generator"].latent_dim, generator=torch.Generator().manual_seed(ctx.seed))
        mask_mean = handle.modules["generator"].eval()(z, return_mask=True)[1].mean().item()

    order = torch.randperm(real.shape[2], generator=torch.Generator().manual_seed(ctx.seed))
    shuffled = real[:, :, order]
    frozen = real[:, :, :1].expand_as(real).contiguous()

    trained = clip_scores(extractor, fake, real)
    rows = {"real test clips (ceiling; FID: real train clips)": {**clip_scores(extractor, real, real),
                                                                  "frame FID": frame_fid(extractor, real, other_real)},
            "real clips, frames shuffled in time": clip_scores(extractor, shuffled, real),
            "real clips, first frame frozen": clip_scores(extractor, frozen, real),
            "untrained G (floor)": clip_scores(extractor, floor, real)}

    grid = ctx.out / "families-vgan.png"
    save_video_strip(torch.cat([fake[:4], real[:4]]), grid)

    keys = ("frame FID", "temporal_consistency", "frame_agreement", "recognised_frames", "motion", "motion_order")
    metric = {k: trained[k] for k in keys}
    metric["mask mean (foreground share)"] = mask_mean
    baseline = {f"{name}: {k}": round(v[k], 4) for name, v in rows.items() for k in keys}
    notes = (f"{n} generated clips of 16 frames (32x32) against the first {n} moving-mnist-32 test clips. "
             f"Frame classifier: moving-mnist-classifier (exact digit-set accuracy "
             f"{extractor.info.get('test_accuracy', float('nan')):.3f} on test frames"
             f"{'; quick: 1 epoch on 200 clips, not cached' if ctx.quick else ''}). Frame FID compares "
             "per-frame classifier features (not Inception). Shuffled real clips keep the FID and the "
             "digit consistency of real clips and only the motion order tells them apart; a still clip "
             "(frozen real, the untrained G's near-constant output) is trivially consistent and has no "
             "motion, so read consistency together with motion. "
             "Grid: 4 generated clips (rows of 16 frames) over 4 real test clips.")
    return ctx.row(run, metric=metric, baseline=baseline, grid=grid, notes=notes)
