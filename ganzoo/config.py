"""The run configuration: one pydantic model, filled in layers.

Later layers win::

    built-in defaults < model defaults (< its defaults for the data's kind) < loss defaults
    < --config FILE < flags < --set key=value

Example::

    cfg = resolve_config(registry, "dcgan", flags={"steps": 100}, sets=["arch.ngf=32"])
    cfg.model_dump_json(indent=2)   # what config.json in the run directory holds
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import (BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt,
                      PositiveFloat, PositiveInt, ValidationError, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from .errors import ConfigError
from .plugins.registry import Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_DATASET = "mnist"
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]{1,4})?)\Z")
"""``\\Z``, not ``$`` (which also matches before a final newline); ASCII digits, at most 4 of them."""
MAX_SEED = 2**63 - 1
"""Seeds go to torch's 64-bit generators (plus small offsets), so they must fit in 63 bits."""
MAX_EPOCHS = 1_000_000
MAX_IMAGE_SIZE = 4096
"""Upper bounds that catch typos (``--image-size 640000``) before they become an out-of-memory crash."""


MAX_NAME_BYTES = 255
"""The longest file or folder name most file systems take (NAME_MAX)."""


def _too_long(name: str) -> bool:
    return len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _check_json_safe(value: Any, path: tuple = ()) -> None:
    """Refuse what config.json cannot hold faithfully, however deeply nested: NaN and
    infinities (JSON has none; they would come back as null) and strings that are not
    UTF-8 (unpaired surrogates). The error's ``at`` names the nested key for the message."""
    problem = None
    if isinstance(value, float) and not math.isfinite(value):
        problem = "must be a finite number"
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problem = "must be valid UTF-8 text (it holds an unpaired surrogate)"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_json_safe(key, path)
            _check_json_safe(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_safe(item, (*path, index))
    if problem:
        got = f" (got {value!r:.80})" if path else ""
        raise PydanticCustomError("json_unsafe", problem + "{got}",
                                  {"at": ".".join(str(part) for part in path), "got": got})


class OptimizerConfig(BaseModel):
    """Settings of one optimizer (generator or discriminator)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    lr: PositiveFloat = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    momentum: NonNegativeFloat = 0.0

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError("each beta must be in [0, 1)")
        return betas

    @field_validator("lr", "eps", "weight_decay", "momentum")
    @classmethod
    def _finite_number(cls, value: float) -> float:
        return _finite(value)


OPTIMIZER_KEY = re.compile(r"^[a-z][a-z0-9]*_optim$")
"""Run-config keys that hold an optimizer's settings (``g_optim``, ``d_optim``, ``e_optim``...)."""


class RunConfig(BaseModel):
    """Everything that defines a training run. ``config.json`` is this, fully resolved.

    Besides the fields below, a run config holds one :class:`OptimizerConfig` per further
    optimizer group a model declares (a key ending in ``_optim``, e.g. ``e_optim``); any other
    unknown key is refused.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="model name (plugin:name once resolved)")
    loss: str = Field(description="loss name (plugin:name once resolved)")
    dataset: str = Field(description="dataset name (plugin:name once resolved)")
    arch: dict[str, Any] = Field(default_factory=dict,
                                 description="the model's own options (see `ganzoo info MODEL`)")

    steps: PositiveInt = Field(2000, description="generator updates to train for")
    epochs: PositiveFloat | None = Field(None, description="train for this many passes over the data instead of --steps")
    batch_size: PositiveInt = Field(64, description="images per discriminator step")
    image_size: PositiveInt | None = Field(None, description="resize images to this size (default: the dataset's own)")
    n_critic: PositiveInt = Field(1, description="discriminator steps per generator step")
    weight_clip: PositiveFloat | None = Field(None, description="clip critic weights to [-c, c] after each step (WGAN)")
    gp: NonNegativeFloat = Field(0.0, description="gradient penalty weight lambda (WGAN-GP: 10); 0 = off")
    r1: NonNegativeFloat = Field(0.0, description="R1 penalty weight gamma on real data; 0 = off")
    r1_every: PositiveInt = Field(1, description="lazy R1 (StyleGAN2): the penalty on every k-th step only, "
                                                 "weighted by k; 1 = every step")
    pack: PositiveInt = Field(1, description="PacGAN packing: the discriminator judges K samples at once, "
                                             "concatenated (channels for images); batch size divisible by K")
    lr_decay: Literal["none", "linear", "cosine"] = Field(
        "none", description="learning-rate schedule over --steps: none, linear (to 0 at the end) or cosine; "
                            "resuming with other --steps changes the schedule from there on")
    ema: float | None = Field(None, ge=0.0, lt=1.0, description="decay of an exponential moving average of the "
                              "generator's weights, used for grids, evaluation and sampling (e.g. 0.999); "
                              "null = off")
    g_optim: OptimizerConfig = Field(default_factory=OptimizerConfig)
    d_optim: OptimizerConfig = Field(default_factory=OptimizerConfig)

    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    precision: Literal["fp32", "bf16", "fp16", "auto"] = Field(
        "fp32", description="autocast precision of forward passes (fp16 adds a gradient scaler); "
                            "losses, penalties and weights stay float32; auto = bf16 where the device "
                            "computes it natively (AMX-BF16 or AVX512-BF16 CPUs, bf16 GPUs), else fp32; "
                            "a run records what auto picked")
    compile: bool = Field(False, description="torch.compile the generator and discriminator")
    channels_last: bool = Field(True, description="channels-last memory format for conv networks "
                                                  "(same maths, faster kernels; float rounding may differ)")
    seed: NonNegativeInt = Field(0, description="seed for weights, latents and data order")
    data_dir: str | None = Field(None, description="dataset folder (else $GANZOO_DATA_DIR, else the user cache)")
    out: str = Field("runs", description="folder that holds run directories")
    run_name: str | None = Field(None, description="run directory name (default: model-dataset-time)")

    log_every: PositiveInt = Field(50, description="steps between metrics lines")
    sample_every: PositiveInt = Field(500, description="steps between sample grids")
    checkpoint_every: PositiveInt = Field(1000, description="steps between checkpoints")
    keep_checkpoints: PositiveInt = Field(3, description="newest checkpoints kept on disk")
    sample_grid: PositiveInt = Field(64, description="images in each sample grid")
    logger: str = Field("none", description="where metrics and sample grids also go: none, tensorboard "
                                            "(RUN/tensorboard), csv (RUN/metrics.csv), mlflow (./mlruns or "
                                            "$MLFLOW_TRACKING_URI) or a plugin's (see `ganzoo list loggers`); "
                                            "metrics.jsonl is always written")
    eval_every: PositiveInt | None = Field(None, description="steps between evaluations (metrics.jsonl, best checkpoint)")
    eval_metrics: list[str] | None = Field(None, description="metrics to evaluate (default: fid for images, modes for points)")
    eval_samples: PositiveInt = Field(2000, description="generated samples per evaluation during training")
    eval_extractor: str | None = Field(None, description="feature extractor (default: the dataset's)")
    algorithm: str = Field("alternating", description="training algorithm (default: the model's; see "
                                                     "`ganzoo list algorithms`)")
    algo: dict[str, Any] = Field(default_factory=dict,
                                 description="the algorithm's own options (see `ganzoo info ALGORITHM`)")
    max_grad_norm: PositiveFloat | None = Field(
        1e5, description="a gradient norm above this counts as exploding and triggers a rollback; "
                         "null = only NaN/Inf do")
    rollback_lr_factor: float = Field(0.5, gt=0.0, le=1.0, description="after a rollback, multiply both "
                                      "learning rates by this")
    max_rollbacks: NonNegativeInt = Field(3, description="rollbacks allowed before the run stops; 0 = stop "
                                          "at the first NaN/Inf")
    sync_batchnorm: bool = Field(False, description="with several GPU processes, batch-norm statistics over "
                                                    "the global batch (SyncBatchNorm); CUDA only")
    notes: list[str] = Field(default_factory=list,
                             description="what ganzoo changed while resolving the config, and why")

    @field_validator("device")
    @classmethod
    def _device_known(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError("must be auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("run_name")
    @classmethod
    def _run_name_is_a_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value or "\\" in value or value in {".", ".."}
                                  or "\x00" in value):
            raise ValueError("must be a plain folder name")
        if value is not None and _too_long(value):
            raise ValueError(f"must be at most {MAX_NAME_BYTES} bytes long")
        return value

    @field_validator("out", "data_dir")
    @classmethod
    def _path_is_usable(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must be a path without NUL characters")
        if value is not None and any(_too_long(part) for part in re.split(r"[/\\]", value)):
            raise ValueError(f"each folder name must be at most {MAX_NAME_BYTES} bytes long")
        return value

    @field_validator("epochs")
    @classmethod
    def _epochs_in_range(cls, value: float | None) -> float | None:
        if value is not None and math.isfinite(value) and value > MAX_EPOCHS:
            raise ValueError(f"must be at most {MAX_EPOCHS:,}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_fits(cls, value: int) -> int:
        if value > MAX_SEED:
            raise ValueError("must be at most 2**63 - 1")
        return value

    @field_validator("image_size")
    @classmethod
    def _image_size_in_range(cls, value: int | None) -> int | None:
        if value is not None and value > MAX_IMAGE_SIZE:
            raise ValueError(f"must be at most {MAX_IMAGE_SIZE}")
        return value

    @field_validator("*")
    @classmethod
    def _json_safe(cls, value: Any) -> Any:
        _check_json_safe(value)
        return value

    @model_validator(mode="after")
    def _extra_keys_are_optimizers(self) -> "RunConfig":
        for key, value in list((self.__pydantic_extra__ or {}).items()):
            if not OPTIMIZER_KEY.match(key):
                raise PydanticCustomError("extra_forbidden", "unknown config key", {"at": key})
            if isinstance(value, OptimizerConfig):
                continue
            try:
                self.__pydantic_extra__[key] = OptimizerConfig.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in (key, *first["loc"]))
                if first["type"] == "extra_forbidden":
                    raise PydanticCustomError("extra_forbidden", "unknown config key", {"at": where}) from None
                raise PydanticCustomError("optimizer", "{msg}", {"at": where, "msg": first["msg"]}) from None
        return self

    @property
    def optimizer_keys(self) -> list[str]:
        """Every optimizer group's key: ``g_optim``, ``d_optim`` and any further ``*_optim``."""
        return ["g_optim", "d_optim", *sorted(self.__pydantic_extra__ or {})]

    def optimizer(self, key: str) -> OptimizerConfig:
        """The settings of optimizer group ``key`` (e.g. ``"e_optim"``)."""
        if key in ("g_optim", "d_optim"):
            return getattr(self, key)
        found = (self.__pydantic_extra__ or {}).get(key)
        if found is None:
            raise ConfigError(f"the run config has no {key} (the optimizer of a module group); give it with "
                              f"--set {key}.lr=... or in the model's defaults")
        return found


# ---------------------------------------------------------------------------
# layering helpers

def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge key by key."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_set(assignment: str) -> dict[str, Any]:
    """Turn ``"a.b=1"`` into ``{"a": {"b": 1}}``; the value is JSON when it parses, else a string."""
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects key=value (e.g. --set arch.ngf=32), got {assignment!r}")
    try:
        value: Any = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, a number of over 4300 digits, nesting too deep
        value = raw
    nested: dict[str, Any] = {}
    cursor = nested
    *parents, leaf = key.split(".")
    for part in parents:
        cursor = cursor.setdefault(part, {})
    cursor[leaf] = value
    return nested


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML config file into a dict."""
    path = Path(path)
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as exc:  # a name too long, a loop of links...
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if is_dir:
        raise ConfigError(f"config file {path} is a folder, not a file")
    if not is_file:
        raise ConfigError(f"config file not found: {path}")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            raise ConfigError(f"config file must end in .json or .toml: {path}")
    except (ValueError, RecursionError) as exc:  # bad JSON/TOML or UTF-8, huge numbers, deep nesting
        raise ConfigError(f"cannot parse config file {path}: {exc}") from None
    except OSError as exc:  # unreadable (permissions), or it vanished
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table/object at the top level")
    return data


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming the first offending key, e.g. ``batch_size: must be > 0 (got -1)``."""
    first = exc.errors()[0]
    at = (first.get("ctx") or {}).get("at")  # a nested key (see _check_json_safe)
    key = prefix + ".".join(str(part) for part in (*first["loc"], *([at] if at else [])))
    if first["type"] == "extra_forbidden":
        return f"unknown config key {key!r}"
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"] and at:  # a nested optimizer key (see RunConfig._extra_keys_are_optimizers)
        return f"invalid config value for {key!r}: {message}"
    shown = first.get("input")
    text = repr(shown)
    text = text if len(text) <= 80 else text[:77] + "..."  # a 10,000-character value: its start
    suffix = "" if isinstance(shown, (dict, list)) or shown is None else f" (got {text})"
    more = len(exc.errors()) - 1
    return f"invalid config value for {key!r}: {message}{suffix}" + (f" (+{more} more)" if more else "")


def user_layer(*, model: str | None = None, loss: str | None = None, dataset: str | None = None,
               config_file: str | Path | None = None, flags: Mapping[str, Any] | None = None,
               sets: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """What the user asked for: config file < flags < ``--set``, plus the names given."""
    file_layer = read_config_file(config_file) if config_file else {}
    flag_layer = {k: v for k, v in (flags or {}).items() if v is not None and k != "lr"}
    set_layer: dict[str, Any] = {}
    for assignment in sets:
        set_layer = deep_merge(set_layer, parse_set(assignment))
    user = deep_merge(deep_merge(file_layer, flag_layer), set_layer)
    for key, value in (("model", model), ("loss", loss), ("dataset", dataset)):
        if value is not None and key not in set_layer:
            user[key] = value
    for key in ("model", "loss", "dataset"):
        if key in user and (not isinstance(user[key], str) or not user[key].strip()):
            raise ConfigError(f"invalid config value for {key!r}: must be a name")
    return user


RESUME_SAFE_KEYS = frozenset({
    "steps", "epochs", "device", "compile", "data_dir", "out", "run_name", "log_every", "sample_every",
    "checkpoint_every", "keep_checkpoints", "sample_grid", "logger", "eval_every", "eval_metrics",
    "eval_samples", "eval_extractor", "notes", "max_grad_norm", "rollback_lr_factor", "max_rollbacks"})
"""Settings a resumed run may change freely: they do not change what is being trained.
Any other difference (model, loss, dataset, arch, batch size, optimizers, precision,
seed, ...) is refused unless forced."""


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(old: RunConfig, new: RunConfig, ignore: frozenset[str] = frozenset()) -> list[str]:
    """``key: old -> new`` for every setting that differs (dotted keys, e.g. ``arch.ngf``)."""
    a, b = _flatten(old.model_dump(mode="json")), _flatten(new.model_dump(mode="json"))
    return [f"{key}: {json.dumps(a.get(key))} -> {json.dumps(b.get(key))}"
            for key in sorted(set(a) | set(b))
            if key.split(".")[0] not in ignore and a.get(key) != b.get(key)]


def _apply_lr(merged: dict[str, Any], flags: Mapping[str, Any] | None) -> None:
    """``--lr``: the learning rate of every optimizer group in ``merged``."""
    lr = (flags or {}).get("lr")
    if lr is None:
        return
    for key in {"g_optim", "d_optim", *(k for k in merged if OPTIMIZER_KEY.match(k))}:
        merged[key] = {**(merged.get(key) or {}), "lr": lr}


def resume_config(registry: Registry, saved: RunConfig, **user_args: Any) -> RunConfig:
    """The config of a resumed run: the checkpoint's own config with what the user
    gave on top (names resolved like :func:`resolve_config`; no model or loss defaults
    are layered again)."""
    user = user_layer(**user_args)
    for kind in ("model", "loss", "dataset", "algorithm"):
        if kind in user:
            user[kind] = registry.get(kind, user[kind]).qualified_name
    merged = deep_merge(saved.model_dump(mode="json"), user)
    _apply_lr(merged, user_args.get("flags"))
    try:
        cfg = RunConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    return cfg


def _validated_options(values: dict[str, Any], options_class, prefix: str, owner: str) -> dict[str, Any]:
    """``arch.*`` / ``algo.*`` values validated by the component's options class and written
    out in full. A typo is refused even when the plugin's class would silently ignore unknown
    keys; a component without options refuses every key."""
    if options_class is None:
        if values:
            raise ConfigError(f"unknown config key '{prefix}.{next(iter(values))}': {owner} has no options")
        return values
    known = set(options_class.model_fields) | {f.alias for f in options_class.model_fields.values() if f.alias}
    unknown = [key for key in values if key not in known]
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}.{unknown[0]}'")
    try:
        return options_class.model_validate(values).model_dump(mode="json")
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix=f"{prefix}.")) from None


def resolve_config(
    registry: Registry,
    model: str,
    *,
    loss: str | None = None,
    dataset: str | None = None,
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    sets: list[str] | tuple[str, ...] = (),
) -> RunConfig:
    """Resolve every layer into a validated :class:`RunConfig`.

    Component names are looked up in ``registry`` (unknown ones raise with suggestions)
    and stored qualified (``plugin:name``); ``arch`` is validated by the model's config
    class and written out in full.
    """
    user = user_layer(model=model, loss=loss, dataset=dataset, config_file=config_file,
                      flags=flags, sets=sets)
    model_entry = registry.get("model", user.get("model", model))
    loss_entry = registry.get("loss", user.get("loss") or model_entry.spec.default_loss)
    dataset_entry = registry.get("dataset", user.get("dataset") or model_entry.spec.default_dataset
                                 or DEFAULT_DATASET)
    if "algorithm" in user and (not isinstance(user["algorithm"], str) or not user["algorithm"].strip()):
        raise ConfigError("invalid config value for 'algorithm': must be a name")
    algorithm_entry = registry.get("algorithm", user.get("algorithm") or model_entry.spec.algorithm)

    model_layer = deep_merge({"algorithm": algorithm_entry.qualified_name}, model_entry.spec.defaults)
    model_layer = deep_merge(model_layer, model_entry.spec.kind_defaults.get(dataset_entry.spec.data_kind, {}))
    # A model's defaults are its paper's recipe with its own default loss: with that loss they
    # win over the loss's generic recommendations (ProGAN's Adam 1e-3, StarGAN's betas); with any
    # other loss, that loss's settings (a WGAN's RMSprop and clipping) win over the model's.
    own_loss = registry.get("loss", model_entry.spec.default_loss).qualified_name == loss_entry.qualified_name
    if own_loss:
        merged = deep_merge(deep_merge(loss_entry.spec.defaults, model_layer), user)
    else:
        merged = deep_merge(deep_merge(model_layer, loss_entry.spec.defaults), user)
    merged.update(model=model_entry.qualified_name, loss=loss_entry.qualified_name,
                  dataset=dataset_entry.qualified_name, algorithm=algorithm_entry.qualified_name)
    _apply_lr(merged, flags)
    try:
        cfg = RunConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    losses = model_entry.spec.losses
    if losses is not None and loss_entry.name not in losses and loss_entry.qualified_name not in losses:
        raise ConfigError(f"model {model_entry.name!r} does not train with loss {loss_entry.name!r}; "
                          f"use one of {', '.join(losses)}")
    for key, kind, names in (("eval_metrics", "metric", cfg.eval_metrics or ()),
                             ("eval_extractor", "extractor", [cfg.eval_extractor] if cfg.eval_extractor else ()),
                             ("logger", "logger", [cfg.logger] if cfg.logger != "none" else ())):
        for name in names:  # refused now, not at the first evaluation (or never)
            try:
                registry.get(kind, name)
            except ConfigError as exc:
                raise type(exc)(f"invalid config value for {key!r}: {exc}") from None
    config_class = model_entry.spec.config_class
    cfg.arch = _validated_options(cfg.arch, config_class, "arch", f"model {model_entry.name!r}")
    cfg.algo = _validated_options(cfg.algo, algorithm_entry.spec.config_class, "algo",
                                  f"algorithm {algorithm_entry.name!r}")
    if cfg.batch_size % cfg.pack:
        raise ConfigError(f"pack={cfg.pack} needs a batch size divisible by {cfg.pack} (got {cfg.batch_size})")
    if cfg.r1_every > 1 and not cfg.r1:
        raise ConfigError(f"r1_every={cfg.r1_every} spaces out the R1 penalty, but r1 is 0; set --set r1=GAMMA")
    if (cfg.gp or cfg.r1) and cfg.arch.get("d_norm") == "batch":
        penalty = "gradient penalty (gp)" if cfg.gp else "R1 penalty"
        if user.get("arch", {}).get("d_norm") == "batch":
            raise ConfigError(f"batch norm in the critic breaks the {penalty}, which is computed "
                              "per sample; use --set arch.d_norm=layer or none")
        cfg.arch = {**cfg.arch, "d_norm": "layer"}
        try:
            config_class.model_validate(cfg.arch)
        except ValidationError:
            raise ConfigError(f"model {model_entry.name!r} has batch norm in its critic and no layer-norm "
                              f"option, so it cannot use the {penalty}") from None
        cfg.notes.append(f"arch.d_norm switched from batch to layer: batch norm in the critic "
                         f"breaks the per-sample {penalty} (Gulrajani et al. 2017, section 4)")
    return cfg


def arch_config(registry: Registry, cfg: RunConfig) -> Any:
    """The model's own config object for ``cfg`` (or ``None`` if it has none)."""
    config_class = registry.get("model", cfg.model).spec.config_class
    return config_class.model_validate(cfg.arch) if config_class is not None else None


def algorithm_options(registry: Registry, cfg: RunConfig) -> Any:
    """The algorithm's options object for ``cfg`` (or ``None`` if it has none)."""
    config_class = registry.get("algorithm", cfg.algorithm).spec.config_class
    if config_class is None:
        return None
    try:
        return config_class.model_validate(cfg.algo)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix="algo.")) from None
