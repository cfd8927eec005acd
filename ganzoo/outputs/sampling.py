"""Loading a trained model from a checkpoint and using it for what it does.

:func:`load` returns a :class:`ModelHandle` holding the modules the model exports. What the
handle offers follows from them: ``sample(n)`` (and grids, walks, raw ``.npz``) for models
with a :class:`~ganzoo.networks.Generator`, ``translate(images)`` for image-to-image models
(:class:`~ganzoo.networks.Translator`), ``encode(images)`` / ``reconstruct(images)`` for
models with an :class:`~ganzoo.networks.Encoder`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..plugins.build import build_networks, load_dataset
from ..training.hardware import resolve_device
from ..config import RunConfig
from ..data import DataShape
from ..datasets import load_image_folder
from ..errors import CheckpointError, ComponentUnavailableError, ConfigError, GanzooError, UnknownComponentError
from ..networks import Encoder, Generator, Translator, apply_in_chunks, generate
from ..plugins.manager import get_plugin_manager
from ..files import write_atomically
from ..kinds import kind_of
from ..kinds.image import TRANSLATIONS_PER_ROW, grid_labels, save_grid, stack_rows, to_model_range, to_uint8
from ..plugins.registry import Registry
from ..training import checkpoint as ckpt


class ModelHandle:
    """A trained model's exported modules with the config it was trained with.

    Example::

        g = ganzoo.load("runs/dcgan-mnist-20261128-120000")
        images = g.sample(16, seed=0)          # [16, C, H, W] in [-1, 1], on the CPU
        g.save_samples("grid.png", n=64)

        t = ganzoo.load("runs/pix2pix-mnist-edges-20261201-120000")
        digits = t.translate(edges)            # edges: [N, 1, 28, 28] uint8 or float in [-1, 1]

    Attributes:
        modules: the exported modules (eval mode), by name.
        config: the run's resolved config.
        step: the step the checkpoint was written at.
        checkpoint: the checkpoint folder.
        shape: the data shape the model was built for.
        averaged: the modules loaded with their moving-average weights (``--set ema``).
    """

    def __init__(self, modules: dict[str, nn.Module], config: RunConfig, step: int, checkpoint: Path,
                 shape: DataShape | None = None) -> None:
        self.modules = {name: module.eval() for name, module in modules.items()}
        self.config = config
        self.step = step
        self.checkpoint = checkpoint
        self.shape = shape
        self.averaged: list[str] = []  # modules loaded with their averaged (--set ema) weights

    def _first(self, kind: type) -> nn.Module | None:
        return next((m for m in self.modules.values() if isinstance(m, kind)), None)

    @property
    def generator(self) -> Generator | None:
        """The generator (``None`` for models that do not sample)."""
        return self._first(Generator)

    @property
    def translators(self) -> dict[str, Translator]:
        """The image-to-image modules, by name (e.g. ``g_ab``, ``g_ba``)."""
        return {name: m for name, m in self.modules.items() if isinstance(m, Translator)}

    @property
    def encoder(self) -> Encoder | None:
        return self._first(Encoder)

    @property
    def can_sample(self) -> bool:
        return self.generator is not None

    @property
    def can_translate(self) -> bool:
        return bool(self.translators)

    @property
    def can_encode(self) -> bool:
        return self.encoder is not None

    @property
    def task(self) -> str:
        """What the model does: ``"translate"``, ``"encode"`` (with a generator), ``"sample"``."""
        if self.can_translate:
            return "translate"
        if self.can_encode:
            return "encode"
        return "sample"

    @property
    def device(self) -> torch.device:
        return next(next(iter(self.modules.values())).parameters()).device

    @property
    def num_classes(self) -> int | None:
        return self.generator.num_classes if self.generator is not None else None

    @property
    def kind(self) -> str:
        """The kind of what the generator makes (the primary field of the data it was trained
        on): ``"image"``, ``"points"``, ``"audio"``, ``"video"``, ``"tokens"``..."""
        return self.shape.kind

    @property
    def field(self):
        """The :class:`~ganzoo.data.FieldShape` of the primary field (its rate, vocabulary), or ``None``."""
        return self.shape.field_of() if self.shape is not None else None

    @property
    def rate(self) -> int | None:
        """Samples (audio) or frames (video) per second of the primary field, if known."""
        field = self.field
        return field.rate if field is not None else None

    def with_net(self, net: str) -> "ModelHandle":
        """The same model with the exported module ``net`` first, so that what it does uses
        that module: ``with_net("g_b")`` samples from generator ``g_b``, ``with_net("g_ba")``
        translates with ``g_ba`` (``ganzoo sample --net``). The handle itself is unchanged.

        Raises:
            ConfigError: ``net`` is no generator, translator or encoder that the model exports
                (the message lists those it exports).
        """
        usable = {name: m for name, m in self.modules.items() if isinstance(m, (Generator, Translator, Encoder))}
        if net not in usable:
            roles = {role for role, kind in (("generator", Generator), ("translator", Translator),
                                             ("encoder", Encoder)) if any(isinstance(m, kind) for m in usable.values())}
            what = roles.pop() if len(roles) == 1 else "generator, translator or encoder"
            raise ConfigError(f"no {what} {net!r}; this model has {', '.join(usable) or 'none'}")
        chosen = ModelHandle({net: self.modules[net], **{k: m for k, m in self.modules.items() if k != net}},
                             self.config, self.step, self.checkpoint, self.shape)
        chosen.averaged = list(self.averaged)
        return chosen

    def _need(self, what: str) -> None:
        can = {"sample": self.can_sample, "translate": self.can_translate, "encode": self.can_encode}[what]
        if not can:
            model = self.config.model.split(":")[-1]
            offers = [name for name, ok in (("sample", self.can_sample), ("translate", self.can_translate),
                                            ("encode", self.can_encode)) if ok]
            raise ConfigError(f"model {model!r} cannot {what}; it can {' and '.join(offers) or 'nothing'}")

    # sampling --------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | list[int] | int | None = None,
               seed: int | None = None, batch_size: int = 256) -> torch.Tensor:
        """``n`` samples (images in [-1, 1]) as a CPU tensor ``[n, C, H, W]``.

        Args:
            n: how many samples.
            labels: class labels for conditional models (one int for all, or ``n`` of them).
            seed: makes the latents reproducible; ``None`` draws fresh ones.
            batch_size: samples generated per forward pass.
        """
        self._need("sample")
        if n < 1:
            raise ConfigError("the number of samples must be at least 1")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = self.generator.sample_latent(n, generator=gen, device="cpu")
        if labels is not None:
            if not self.num_classes:
                raise ConfigError("this model is not conditional; it takes no labels")
            labels = torch.full((n,), labels, dtype=torch.long) if isinstance(labels, int) \
                else torch.as_tensor(labels, dtype=torch.long)
            if len(labels) != n or labels.min() < 0 or labels.max() >= self.num_classes:
                raise ConfigError(f"labels must be {n} class indices in 0..{self.num_classes - 1}")
        elif self.num_classes:
            labels = torch.arange(n) % self.num_classes
        return generate(self.generator, z, labels, batch_size)

    @torch.no_grad()
    def interpolate(self, steps: int = 8, rows: int = 8, seed: int | None = 0) -> torch.Tensor:
        """Latent walks: ``rows`` rows of ``steps`` images, each row a spherical interpolation
        (slerp) between two random latents; conditional models keep one class per row.

        Returns:
            CPU tensor ``[rows * steps, *sample_shape]``.
        """
        self._need("sample")
        if steps < 2 or rows < 1:
            raise ConfigError("an interpolation needs at least 2 steps and 1 row")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        start = self.generator.sample_latent(rows, generator=gen, device="cpu")
        end = self.generator.sample_latent(rows, generator=gen, device="cpu")
        t = torch.linspace(0, 1, steps)
        cos = torch.nn.functional.cosine_similarity(start, end, dim=1).clamp(-1 + 1e-7, 1 - 1e-7)
        omega = torch.acos(cos)[:, None]  # [rows, 1]
        weights_a = torch.sin((1 - t)[None, :] * omega) / torch.sin(omega)  # [rows, steps]
        weights_b = torch.sin(t[None, :] * omega) / torch.sin(omega)
        z = weights_a[..., None] * start[:, None, :] + weights_b[..., None] * end[:, None, :]
        labels = (torch.arange(rows) % self.num_classes).repeat_interleave(steps) if self.num_classes else None
        return generate(self.generator, z.reshape(rows * steps, -1), labels)

    def save_npz(self, path: str | Path, n: int, seed: int | None = 0, labels=None) -> Path:
        """Write ``n`` raw samples to a ``.npz`` file for outside tools, as the data's kind
        stores them (:meth:`ganzoo.kinds.FieldKind.npz_arrays`): images as ``images``, uint8
        ``[N, H, W, C]`` (0..255, the layout FID tools expect); points as ``points``, float32
        ``[N, D]``; audio as ``audio``, float32 ``[N, C, T]`` in [-1, 1] (with ``rate``); video as
        ``video``, uint8 ``[N, T, H, W, C]``; token ids as ``tokens``, int64 ``[N, L]``;
        conditional models add ``labels``.
        """
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise ConfigError(f"raw samples go to a .npz file, not {path.name!r}")
        if labels is None and self.num_classes:
            labels = torch.arange(n) % self.num_classes
        samples = self.sample(n, labels=labels, seed=seed)
        arrays = kind_of(self.kind).npz_arrays(samples, self.field)
        if labels is not None:
            arrays["labels"] = torch.as_tensor(labels).expand(n).numpy().astype("int64")
        return write_npz(path, arrays)

    def save_samples(self, path: str | Path, n: int = 64, seed: int | None = 0, labels=None,
                     nrow: int | None = None) -> list[Path]:
        """Sample ``n`` and write what a person looks at, listens to or reads of them, as the
        training previews do (:meth:`ganzoo.kinds.FieldKind.write_samples`): an image grid, a
        scatter plot of points, spectrograms and a WAV file per clip (``STEM-000.wav`` ...),
        an animated GIF of clips and a PNG of their frames, or sentences.

        Conditional models without ``labels`` get one row per class where the kind shows a
        grid of images (``n // classes`` each), else classes in turn.

        Args:
            path: the file to write; its suffix must be one the kind writes (``.png`` for
                images and points; ``.png`` or ``.wav`` for audio; ``.gif`` or ``.png`` for video;
                ``.txt`` for sentences); the other files take its name.

        Returns:
            The files written, the main one first.
        """
        path = Path(path)
        kind = kind_of(self.kind)
        if path.suffix.lower() not in kind.sample_suffixes:
            raise ConfigError(f"{self.kind} samples are written to a {' or '.join(kind.sample_suffixes)} file, "
                              f"not {path.name!r}")
        if labels is None and self.num_classes and kind.class_rows:
            class_labels, per_row = grid_labels(self.num_classes, n)
            labels, n, nrow = class_labels, len(class_labels), nrow or per_row
        samples = self.sample(n, labels=labels, seed=seed)
        return kind.write_samples(samples, path.with_suffix(""), self.field, nrow=nrow)

    def as_text(self, n: int, seed: int | None = 0, labels=None) -> list[str]:
        """``n`` samples as lines of text, for models whose samples are read (sentences)."""
        kind = kind_of(self.kind)
        try:
            return kind.as_text(self.sample(n, labels=labels, seed=seed), self.field)
        except NotImplementedError:
            raise ConfigError(f"this model makes {self.kind}, not text: use save_samples") from None

    # image to image --------------------------------------------------------------
    def _translator(self, net: str | None) -> tuple[str, Translator]:
        self._need("translate")
        translators = self.translators
        if net is None:
            return next(iter(translators.items()))
        if net not in translators:
            raise ConfigError(f"no translator {net!r}; this model has {', '.join(translators)}")
        return net, translators[net]

    @staticmethod
    def _as_input(images: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """uint8 or [-1, 1] float images, brought to ``shape`` (channels, size)."""
        images = torch.as_tensor(images)
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.dim() != 4:
            raise ConfigError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
        channels, height, width = shape
        if images.dtype == torch.uint8:
            x = to_model_range(images)
        else:
            x = images.float()
        if x.shape[1] != channels:
            if x.shape[1] == 3 and channels == 1:
                x = x.mean(dim=1, keepdim=True)
            elif x.shape[1] == 1:
                x = x.expand(-1, channels, -1, -1)
            else:
                raise ConfigError(f"the model takes {channels}-channel images, these have {x.shape[1]}")
        if tuple(x.shape[-2:]) != (height, width):
            x = torch.nn.functional.interpolate(x, size=(height, width), mode="bilinear", antialias=True,
                                                align_corners=False).clamp(-1, 1)
        return x

    @torch.no_grad()
    def translate(self, images: torch.Tensor, net: str | None = None, domain=None,
                  batch_size: int = 256) -> torch.Tensor:
        """Translate images with translator ``net`` (default: the first, e.g. ``g_ab``).

        Args:
            images: ``[N, C, H, W]`` uint8 (0..255) or float in [-1, 1]; resized and brought
                to the model's channel count if they differ.
            net: which translator (see :attr:`translators`).
            domain: the target domain(s) for multi-domain translators (an int or ``N`` ints).
            batch_size: images per forward pass.

        Returns:
            CPU float tensor of outputs in [-1, 1].
        """
        _, translator = self._translator(net)
        x = self._as_input(images, translator.in_shape)
        extra = ()
        if translator.num_domains:
            if domain is None:
                raise ConfigError(f"this translator needs a target domain (0..{translator.num_domains - 1})")
            domains = torch.full((len(x),), domain, dtype=torch.long) if isinstance(domain, int) \
                else torch.as_tensor(domain, dtype=torch.long)
            extra = (domains,)
        return apply_in_chunks(translator, x, *extra, batch_size=batch_size)

    @torch.no_grad()
    def translation_rows(self, images: torch.Tensor, net: str | None = None, domain=None) -> list[torch.Tensor]:
        """The translations of ``images``: one tensor, or one per target domain for a
        multi-domain translator given no ``domain`` (StarGAN's rows)."""
        _, translator = self._translator(net)
        if translator.num_domains and domain is None:
            return [self.translate(images, net=net, domain=d) for d in range(translator.num_domains)]
        return [self.translate(images, net=net, domain=domain)]

    @torch.no_grad()
    def translation_grid(self, images: torch.Tensor, targets: torch.Tensor | None = None,
                         net: str | None = None) -> tuple[torch.Tensor, int]:
        """Rows of inputs, their translations and (if given) targets, 8 examples per row."""
        name, translator = self._translator(net)
        x = self._as_input(images, translator.in_shape)
        parts = [x, *self.translation_rows(x, net=name)]
        if targets is not None:
            parts.append(self._as_input(targets, translator.out_shape))
        return stack_rows(*parts, per_row=TRANSLATIONS_PER_ROW)

    # encoders --------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Latent codes ``E(x)`` ``[N, latent_dim]`` of images (uint8 or [-1, 1] float)."""
        self._need("encode")
        x = self._as_input(images, self.encoder.in_shape) if len(self.encoder.in_shape) == 3 \
            else torch.as_tensor(images).float()
        return apply_in_chunks(self.encoder, x, batch_size=batch_size)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """``G(E(x))``: the generator's image of each image's code."""
        self._need("encode")
        self._need("sample")
        z = self.encode(images, batch_size=batch_size)
        return generate(self.generator, z, None, batch_size)




def write_npz(path: Path, arrays: dict) -> Path:
    """``np.savez`` through a temporary file and a rename (see :func:`ganzoo.files.write_atomically`)."""
    import numpy as np

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file object: numpy adds no suffix to it
            np.savez(handle, **arrays)

    write_atomically(Path(path), save)
    return Path(path)


def read_images(path: str | Path, size: int | None = None) -> torch.Tensor:
    """A user's images as uint8 ``[N, C, H, W]``: a folder of image files (sorted, resized
    to ``size`` on the short side and centre-cropped), or a ``.npz`` with ``images``
    (uint8 ``[N, H, W, C]`` as :meth:`ModelHandle.save_npz` writes, or ``[N, C, H, W]``)."""
    path = Path(path).expanduser()
    if path.suffix.lower() == ".npz" and path.is_file():
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as archive:
                if "images" not in archive:
                    raise ConfigError(f"{path} holds no 'images' array (it has {', '.join(archive.files)})")
                array = archive["images"]
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        if array.dtype != np.uint8 or array.ndim not in (3, 4):
            raise ConfigError(f"{path}: 'images' must be uint8 [N, H, W, C] or [N, C, H, W], "
                              f"got {array.dtype} {array.shape}")
        images = torch.from_numpy(array.copy())
        if images.dim() == 3:
            images = images.unsqueeze(-1)
        if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.permute(0, 3, 1, 2)
        return images.contiguous()
    return load_image_folder(path, image_size=size).images


def dataset_examples(handle: ModelHandle, n: int, registry: Registry, data_dir: str | Path | None = None,
                     net: str | None = None, split: str = "test") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first ``n`` inputs of the run's own dataset split for a translator (and the paired
    targets, when the dataset pairs them), as uint8 images."""
    name, translator = handle._translator(net)
    cfg = handle.config
    data = load_dataset(registry, cfg.dataset, data_dir or cfg.data_dir, split=split, image_size=cfg.image_size)
    field, target = translator.input_field, translator.output_field
    if field not in data.fields:
        raise ConfigError(f"{cfg.dataset} has no {field!r} field for {name}; pass --input")
    stream = next(i for i, s in enumerate(data.streams) if field in s)
    paired = target != field and target in data.fields and target in data.streams[stream]
    return data.fields[field][:n], (data.fields[target][:n] if paired else None)


def save_images(handle: ModelHandle, path: Path, inputs: torch.Tensor, targets: torch.Tensor | None = None,
                net: str | None = None, domain=None) -> str:
    """Translate (image-to-image models) or reconstruct (encoder models) ``inputs`` and write
    a PNG of input | output [| target] rows, or an ``.npz`` with ``images`` (the outputs,
    uint8 ``[N, H, W, C]``), ``inputs`` and, for encoders, ``codes``. Returns what was written."""
    path = Path(path)
    if handle.can_translate:
        name, translator = handle._translator(net)
        if translator.num_domains and domain is not None and not 0 <= int(domain) < translator.num_domains:
            raise ConfigError(f"unknown domain {domain}: {name} translates to domains 0..{translator.num_domains - 1}")
        if path.suffix.lower() == ".npz":
            if translator.num_domains and domain is None:
                raise ConfigError(f"{name} translates to {translator.num_domains} domains: pass --domain K "
                                  f"for an .npz (a PNG without --domain shows every domain)")
            outputs = handle.translate(inputs, net=name, domain=domain)
            write_npz(path, {"images": to_uint8(outputs),
                             "inputs": to_uint8(handle._as_input(inputs, translator.in_shape))})
        else:
            x = handle._as_input(inputs, translator.in_shape)
            rows = [x, *handle.translation_rows(x, net=name, domain=domain)]
            if targets is not None:
                rows.append(handle._as_input(targets, translator.out_shape))
            images, per_row = stack_rows(*rows, per_row=TRANSLATIONS_PER_ROW)
            save_grid(images, path, nrow=per_row)
        return f"{len(inputs)} translations by {name}"
    if handle.can_encode and handle.can_sample:
        if path.suffix.lower() == ".npz":
            write_npz(path, {"images": to_uint8(handle.reconstruct(inputs)),
                             "codes": handle.encode(inputs).numpy(),
                             "inputs": to_uint8(handle._as_input(inputs, handle.encoder.in_shape))})
        else:
            x = handle._as_input(inputs, handle.encoder.in_shape)
            images, per_row = stack_rows(x, handle.reconstruct(x), per_row=TRANSLATIONS_PER_ROW)
            save_grid(images, path, nrow=per_row)
        return f"{len(inputs)} reconstructions G(E(x))"
    model = handle.config.model.split(":")[-1]
    raise ConfigError(f"model {model!r} samples from latents and takes no input images; drop --input")


def load(path: str | Path, device: str = "cpu", registry: Registry | None = None,
         ema: bool = True) -> ModelHandle:
    """Load the exported modules of a run directory or checkpoint (safetensors only).

    Args:
        path: a run directory (its latest checkpoint), a checkpoint folder, or a file in it.
        device: where to put the modules.
        registry: the component registry (default: the installed plugins).
        ema: use the averaged weights of a run trained with ``--set ema=...`` (the default);
            ``False`` loads the raw weights. Runs without an average have only the raw ones.
    """
    registry = registry or get_plugin_manager().registry
    folder = ckpt.resolve_checkpoint(path)
    file = next(f for f in (folder / ckpt.STATE_FILE, *sorted(folder.glob("*.safetensors"))) if f.is_file())
    meta = ckpt.read_metadata(file)
    try:
        cfg = RunConfig.model_validate_json(meta["config"])
        shape = DataShape(**json.loads(meta["data_shape"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{file} carries no valid run config: {str(exc).splitlines()[0]}") from None
    _, _, export = ckpt.module_layout(meta)
    plugin = cfg.model.split(":")[0]
    try:
        registry.get("model", cfg.model)
    except UnknownComponentError:
        raise ComponentUnavailableError(
            f"{file} needs model {cfg.model!r} from plugin {plugin!r}, which is not installed "
            f"(see `ganzoo plugins`)") from None
    try:
        nets = build_networks(registry, cfg, shape, resolve_device(device))
    except GanzooError as exc:
        raise type(exc)(f"cannot rebuild the checkpoint's model (plugin {plugin!r}): {exc}") from None
    modules = {}
    averaged = set(ckpt.ema_modules(meta)) if ema else set()
    for name in export:
        module_path = folder / (ckpt.ema_file(name) if name in averaged else ckpt.module_file(name))
        if name not in nets.modules:
            raise CheckpointError(f"{folder} exports {name!r}, which model {cfg.model} does not build")
        try:
            nets.modules[name].load_state_dict(ckpt.load_tensors(module_path))
        except RuntimeError as exc:
            raise CheckpointError(f"{module_path} does not match model {cfg.model}: "
                                  f"{str(exc).splitlines()[0]}") from None
        modules[name] = nets.modules[name]
    if not modules:
        raise CheckpointError(f"{folder} exports no modules to use")
    handle = ModelHandle(modules, cfg, int(meta.get("step", 0)), folder, shape)
    handle.averaged = sorted(averaged & set(modules))
    return handle
