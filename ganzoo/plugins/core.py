"""The core's own plugin: the built-in losses, datasets, metrics, extractors, algorithm and loggers.

Registered through the ``ganzoo`` entry-point group like every other plugin.
Models live in ``plugins/`` (import name ``ganzoo_plugins``).
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..specs import AlgorithmSpec, DatasetSpec, ExtractorSpec, LoggerSpec, LossSpec, MetricSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_FILES = tuple(f"MNIST/raw/{name}" for name in IDX_FILES)
FASHION_MNIST_FILES = tuple(f"FashionMNIST/raw/{name}" for name in IDX_FILES)
"""The IDX files relative to --data-dir (torchvision's layout)."""

IMAGE_GLOBS = tuple(f"**/*.{ext}" for ext in ("png", "jpg", "jpeg", "bmp", "gif", "webp"))
PIX2PIX = "Isola et al. 2017, Image-to-Image Translation with Conditional Adversarial Networks (arXiv:1611.07004)"
CYCLEGAN = ("Zhu et al. 2017, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial "
            "Networks (arXiv:1703.10593)")
COGAN_EDGES = "Liu & Tuzel 2016, Coupled Generative Adversarial Networks (arXiv:1606.07536), MNIST edge pair"

ADAM_DCGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}
ADAM_HINGE = {"name": "adam", "lr": 2e-4, "betas": (0.0, 0.9)}
ADAM_WGAN_GP = {"name": "adam", "lr": 1e-4, "betas": (0.0, 0.9)}
RMSPROP_WGAN = {"name": "rmsprop", "lr": 5e-5}


@hookimpl
def ganzoo_losses():
    yield LossSpec(
        name="bce",
        summary="Binary cross-entropy on logits, non-saturating generator loss",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661)",
        factory="ganzoo.losses:BCELoss",
        defaults={"n_critic": 1, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )
    yield LossSpec(
        name="minimax",
        summary="Binary cross-entropy on logits, original saturating generator loss log(1 - D(G(z)))",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661)",
        factory="ganzoo.losses:MinimaxLoss",
        defaults={"n_critic": 1, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )
    yield LossSpec(
        name="wgan",
        summary="Wasserstein critic loss with weight clipping (0.01)",
        paper="Arjovsky, Chintala & Bottou 2017, Wasserstein GAN (arXiv:1701.07875)",
        factory="ganzoo.losses:WassersteinLoss",
        defaults={"n_critic": 5, "weight_clip": 0.01, "g_optim": RMSPROP_WGAN, "d_optim": RMSPROP_WGAN},
    )
    yield LossSpec(
        name="wgan-gp",
        summary="Wasserstein critic loss with a two-sided gradient penalty (lambda 10)",
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs (arXiv:1704.00028)",
        factory="ganzoo.losses:WassersteinLoss",
        defaults={"n_critic": 5, "gp": 10.0, "g_optim": ADAM_WGAN_GP, "d_optim": ADAM_WGAN_GP},
    )
    yield LossSpec(
        name="hinge",
        summary="Hinge loss: relu(1 - D(x)) + relu(1 + D(G(z))) for D, -D(G(z)) for G",
        paper="Lim & Ye 2017 (arXiv:1705.02894); Miyato et al. 2018 (arXiv:1802.05957)",
        factory="ganzoo.losses:HingeLoss",
        defaults={"n_critic": 1, "g_optim": ADAM_HINGE, "d_optim": ADAM_HINGE},
    )
    relativistic = "Jolicoeur-Martineau 2018, The relativistic discriminator (arXiv:1807.00734)"
    yield LossSpec(
        name="rgan",
        summary="Relativistic standard GAN: softplus(-(D(x) - D(G(z)))) for D, roles swapped for G",
        paper=relativistic,
        factory="ganzoo.losses:RelativisticLoss",
        defaults={"n_critic": 1, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )
    yield LossSpec(
        name="ragan",
        summary="Relativistic average GAN: each score against the other batch's mean score",
        paper=relativistic,
        factory="ganzoo.losses:RelativisticAverageLoss",
        defaults={"n_critic": 1, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )
    yield LossSpec(
        name="lsgan",
        summary="Least squares with targets a=0, b=1, c=1",
        paper="Mao et al. 2017, Least Squares Generative Adversarial Networks (arXiv:1611.04076)",
        factory="ganzoo.losses:LeastSquaresLoss",
        defaults={"n_critic": 1, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )


@hookimpl
def ganzoo_datasets():
    yield DatasetSpec(
        name="mnist",
        summary="MNIST handwritten digits, 28x28 grayscale, 10 classes",
        paper="LeCun et al. 1998, yann.lecun.com/exdb/mnist",
        load="ganzoo.datasets:load_mnist",
        channels=1, image_size=28, num_classes=10, size=60000, files=MNIST_FILES,
    )
    yield DatasetSpec(
        name="fashion-mnist",
        summary="Fashion-MNIST clothing images, 28x28 grayscale, 10 classes",
        paper="Xiao et al. 2017 (arXiv:1708.07747)",
        load="ganzoo.datasets:load_fashion_mnist",
        channels=1, image_size=28, num_classes=10, size=60000, files=FASHION_MNIST_FILES,
    )
    yield DatasetSpec(
        name="cifar10",
        summary="CIFAR-10 natural images, 32x32 RGB, 10 classes (downloaded by torchvision)",
        paper="Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images, "
              "www.cs.toronto.edu/~kriz/cifar.html",
        load="ganzoo.datasets:load_cifar10",
        channels=3, image_size=32, num_classes=10, size=50000,
        files=tuple(f"cifar-10-batches-py/{name}" for name in (
            "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
            "test_batch", "batches.meta")),
    )
    yield DatasetSpec(
        name="image-folder",
        summary="Your own images: --data-dir is a folder of images, class subfolders optional",
        paper="Layout of torchvision's ImageFolder: <folder>/[<class>/]<image>; resized (short "
              "side) and centre-cropped to --image-size, default 64",
        load="ganzoo.datasets:load_image_folder",
        channels=3, image_size=64,
        files=IMAGE_GLOBS,
    )
    pacgan = ("Lin et al. 2018, PacGAN (arXiv:1712.04086); "
              "after Srivastava et al. 2017, VEEGAN (arXiv:1705.07761)")
    yield DatasetSpec(
        name="toy-ring",
        summary="2-D mixture of 8 Gaussians on the unit circle, std 0.01 (mode-collapse toy)",
        paper=pacgan,
        load="ganzoo.datasets:load_toy_ring",
        data_kind="points", point_dim=2, num_classes=8, size=100000,
    )
    yield DatasetSpec(
        name="toy-grid",
        summary="2-D 5x5 grid of 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05 (mode-collapse toy)",
        paper=pacgan,
        load="ganzoo.datasets:load_toy_grid",
        data_kind="points", point_dim=2, num_classes=25, size=100000,
    )
    yield DatasetSpec(
        name="stacked-mnist",
        summary="Three random MNIST digits as RGB channels, 28x28, 1000 classes (built from mnist)",
        paper="Metz et al. 2017, Unrolled GANs (arXiv:1611.02163); 128,000 images as in "
              "Lin et al. 2018, PacGAN (arXiv:1712.04086)",
        load="ganzoo.datasets:load_stacked_mnist",
        channels=3, image_size=28, num_classes=1000, size=128000,
        files=MNIST_FILES,
    )
    yield DatasetSpec(
        name="mnist-edges",
        summary="MNIST pairs: image = the digit's outline (3x3 dilation minus the digit), target = the digit",
        paper=f"Edge operator: morphological outline, 3x3 max-pool (stride 1, padding 1) minus the image, "
              f"clamped to 0..255, as in {COGAN_EDGES}; paired training as in {PIX2PIX}",
        load="ganzoo.datasets:load_mnist_edges",
        channels=1, image_size=28, num_classes=10, size=60000, files=MNIST_FILES, fields=("target",),
    )
    yield DatasetSpec(
        name="mnist-inverted",
        summary="Unpaired MNIST: A = even-indexed digits, B = odd-indexed digits inverted (255 - x)",
        paper=f"An unpaired translation toy for {CYCLEGAN}; both domains are scorable by an MNIST classifier",
        load="ganzoo.datasets:load_mnist_inverted",
        channels=1, image_size=28, num_classes=10, size=30000, files=MNIST_FILES, fields=("image_b",),
    )
    yield DatasetSpec(
        name="mnist-fashion",
        summary="Unpaired domains: A = MNIST digits, B = Fashion-MNIST items, shuffled independently",
        paper=f"An unpaired translation toy for {CYCLEGAN}; data: LeCun et al. 1998 (MNIST), "
              f"Xiao et al. 2017 (Fashion-MNIST, arXiv:1708.07747)",
        load="ganzoo.datasets:load_mnist_fashion",
        channels=1, image_size=28, num_classes=10, size=60000, files=MNIST_FILES + FASHION_MNIST_FILES,
        fields=("image_b",),
    )
    yield DatasetSpec(
        name="paired-folder",
        summary="Your own pairs: --data-dir holds A|B side-by-side images, or A/ and B/ with matching names",
        paper=f"The layouts of {PIX2PIX}; split folders train/ and test/ (or val/) optional; image = A, "
              f"target = B, resized (short side) and centre-cropped to --image-size, default 64",
        load="ganzoo.datasets:load_paired_folder",
        channels=3, image_size=64, files=IMAGE_GLOBS, fields=("target",),
    )
    yield DatasetSpec(
        name="unpaired-folder",
        summary="Your own unpaired domains: --data-dir holds trainA/, trainB/, testA/, testB/",
        paper=f"The layout of {CYCLEGAN}; image = A, image_b = B, resized (short side) and centre-cropped "
              f"to --image-size, default 64",
        load="ganzoo.datasets:load_unpaired_folder",
        channels=3, image_size=64, fields=("image_b",),
        files=tuple(f"{folder}/**/*" for folder in ("trainA", "trainB", "testA", "testB")),
    )


@hookimpl
def ganzoo_metrics():
    scores = "ganzoo.metrics.scores"
    yield MetricSpec(
        name="fid", summary="Frechet distance between feature Gaussians (float64, stable matrix sqrt)",
        paper="Heusel et al. 2017 (arXiv:1706.08500)", compute=f"{scores}:fid",
        keys=("fid",), lower_is_better=("fid",))
    yield MetricSpec(
        name="kid", summary="Kernel inception distance: unbiased cubic-kernel MMD over subsets (mean, std)",
        paper="Binkowski et al. 2018 (arXiv:1801.01401)", compute=f"{scores}:kid",
        keys=("kid_mean", "kid_std"), lower_is_better=("kid_mean", "kid_std"))
    yield MetricSpec(
        name="pr", summary="Improved precision and recall with k=3 nearest neighbours",
        paper="Kynkaanniemi et al. 2019 (arXiv:1904.06991)", compute=f"{scores}:precision_recall",
        keys=("precision", "recall"))
    yield MetricSpec(
        name="dc", summary="Density and coverage with k=5 nearest neighbours",
        paper="Naeem et al. 2020 (arXiv:2002.09797)", compute=f"{scores}:density_coverage",
        keys=("density", "coverage"))
    yield MetricSpec(
        name="modes", summary="Mode coverage: toy mixtures (modes, % high quality, reverse KL), "
                              "class histogram, Stacked-MNIST triples",
        paper="Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN (arXiv:1712.04086)",
        compute="ganzoo.metrics.evaluate:mode_metric", inputs="samples",
        keys=("modes", "high_quality", "reverse_kl", "kl_uniform"),
        lower_is_better=("reverse_kl", "kl_uniform"))
    yield MetricSpec(
        name="is", summary="Inception score exp(E KL(p(y|x) || p(y))) under the classifier extractor, "
                           "mean and std over 10 splits",
        paper="Salimans et al. 2016 (arXiv:1606.03498); WaveGAN's measure on a spoken-digit classifier",
        compute="ganzoo.metrics.evaluate:inception_score_metric", inputs="samples",
        keys=("is_mean", "is_std"))


@hookimpl
def ganzoo_extractors():
    extractors = "ganzoo.metrics.extractors"
    yield ExtractorSpec(
        name="mnist-classifier",
        summary="Small CNN trained by ganzoo on MNIST on first use (>= 99% test accuracy), cached",
        load=f"{extractors}:load_mnist_classifier", datasets=("mnist", "stacked-mnist"))
    yield ExtractorSpec(
        name="fashion-mnist-classifier",
        summary="Small CNN trained by ganzoo on Fashion-MNIST on first use, cached",
        load=f"{extractors}:load_fashion_mnist_classifier", datasets=("fashion-mnist",))
    yield ExtractorSpec(
        name="inception-v3",
        summary="The standard FID Inception-v3 (pool3), pytorch-fid weights from a local file",
        paper="Szegedy et al. 2016; weights as in pytorch-fid / TTUR",
        load=f"{extractors}:load_inception_v3", datasets=("cifar10", "image-folder"))


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="alternating",
        summary="n_critic discriminator updates, then one generator update",
        paper="Goodfellow et al. 2014, Algorithm 1 (arXiv:1406.2661)",
        step="ganzoo.algorithms:Alternating",
    )


@hookimpl
def ganzoo_loggers():
    yield LoggerSpec(
        name="none",
        summary="Nothing besides metrics.jsonl (always written)",
        build="ganzoo.loggers:Logger",
    )
    yield LoggerSpec(
        name="tensorboard",
        summary="TensorBoard event files in RUN/tensorboard: scalars, sample grids, audio, text",
        paper="www.tensorflow.org/tensorboard",
        build="ganzoo.loggers.tensorboard:TensorBoardLogger",
        requires=("tensorboard",),
        install="pip install 'ganzoo[tensorboard]'",
    )
    yield LoggerSpec(
        name="csv",
        summary="RUN/metrics.csv, one row per value: step,wall_time,split,key,value",
        build="ganzoo.loggers.csv:CSVLogger",
    )
    yield LoggerSpec(
        name="mlflow",
        summary="An MLflow run: config as params, metrics, sample grids; ./mlruns or $MLFLOW_TRACKING_URI",
        paper="mlflow.org/docs/latest/ml/tracking",
        build="ganzoo.loggers.mlflow:MLflowLogger",
        requires=("mlflow",),
        install="pip install 'ganzoo[mlflow]'",
    )
