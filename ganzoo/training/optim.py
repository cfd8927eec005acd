"""The optimizers a run config describes: torch's, without their start-up import of ``torch._dynamo``."""

from __future__ import annotations

import torch

from ..config import OptimizerConfig

_OPTIMIZER_METHODS = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def without_dynamo_import(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """``cls`` (a torch optimizer) as a subclass that never imports ``torch._dynamo``.

    torch.optim wraps ``add_param_group``, ``zero_grad``, ``state_dict`` and
    ``load_state_dict`` in ``torch._disable_dynamo`` and ``step`` in a graph-break helper, and
    both import ``torch._dynamo`` on first use: 1.4-2 s of a training process's start-up on
    the CPUs measured, for a compiler an eager optimizer never runs under. The
    subclass calls the same methods unwrapped (``__wrapped__``; ``step`` under ``no_grad``,
    as the wrapper does for a non-differentiable optimizer), so updates, state dicts and
    checkpoints are those of ``cls``, bit for bit. Where torch's methods are not wrapped as
    expected (another torch version), ``cls`` itself is returned.
    """
    import inspect

    base = torch.optim.Optimizer
    wrapped = {name: getattr(base, name) for name in _OPTIMIZER_METHODS}
    unwrapped = {name: inspect.unwrap(method) for name, method in wrapped.items()}
    # innermost: torch's profiling hook may already wrap a class's step (once an instance exists)
    raw_step = inspect.unwrap(cls.step)
    if raw_step is cls.step or any(unwrapped[name] is wrapped[name] for name in wrapped):
        return cls

    def step(self, closure=None):
        if self.defaults.get("differentiable"):
            return cls.step(self, closure)
        with torch.no_grad():
            return raw_step(self, closure)

    namespace = {name: method for name, method in unwrapped.items()}
    namespace.update(step=step, __doc__=f"torch.optim.{cls.__name__} without the import of torch._dynamo.",
                     __module__=__name__)
    return type(cls.__name__, (cls,), namespace)


_LEAN_OPTIMIZERS: dict[type, type] = {}


def lean_optimizer(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """:func:`without_dynamo_import` of ``cls``, made once per class."""
    if cls not in _LEAN_OPTIMIZERS:
        _LEAN_OPTIMIZERS[cls] = without_dynamo_import(cls)
    return _LEAN_OPTIMIZERS[cls]


def make_optimizer(params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The optimizer an :class:`OptimizerConfig` describes (torch's, without its start-up
    import of ``torch._dynamo``: :func:`without_dynamo_import`)."""
    if cfg.name in ("adam", "adamw"):
        # the fused kernel (CPU and CUDA): one pass over the parameters, same update rule
        params = list(params)
        fused = bool(params) and all(p.device.type in ("cpu", "cuda") for p in params)
        cls = lean_optimizer(torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW)
        return cls(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                   fused=fused or None)
    if cfg.name == "rmsprop":
        return lean_optimizer(torch.optim.RMSprop)(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                                   momentum=cfg.momentum)
    return lean_optimizer(torch.optim.SGD)(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimizer state the memory layout of its parameter (e.g. channels-last).

    Checkpoints store tensors contiguous; optimizers build their state with the parameter's
    strides, and fused kernels step parameter and state as raw memory, so a restored state
    must be laid out like the parameter again to give the same update.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if (isinstance(value, torch.Tensor) and value.shape == param.shape
                        and value.stride() != param.stride()):
                    optimizer.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
