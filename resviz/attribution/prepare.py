"""A model made safe for attribution: an eval-mode copy in which every call site has its own module.

Captum's hook-based methods (DeepLift, guided backprop, deconvolution, guided Grad-CAM) find
the nonlinearities by their modules. Three common ways of writing a model fool them:

- a module called twice (torchvision's ``BasicBlock`` uses one ``self.relu`` for both
  activations): DeepLift keeps one input/output pair per module and fails or mixes calls;
  a Grad-CAM hook on such a module only keeps its last call;
- a nonlinearity applied as a function (``F.relu(x)``, ``x.relu_()``): no module, no hook,
  so DeepLift and guided backprop silently fall back to the plain gradient there;
- in-place modules (``nn.ReLU(inplace=True)``).

``prepare_model`` answers all three on a copy that shares the original's parameters and
buffers (so it follows training without copying weights, and the user's model is never put
into eval mode or hooked): a reused module is replaced by a ``CallSites`` stand-in that sends
call k to its own copy ``<name>.call<k>``; a functional nonlinearity is routed, while a forward
pass runs, to a fresh module of its own (``FunctionalSites``); ``inplace`` is switched off.
One probe forward pass finds all this and the output shape of every module; it is cached
per model and input shape.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import ResvizError
from ..graph.execution import copy_module_tree, eval_mode
from ..graph.hooks import forward_hooks

# The module types Captum's DeepLift has a rule for; guided backprop and deconvolution only look at nn.ReLU.
NONLINEAR_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
    nn.Softmax)
# Nonlinear modules DeepLift has no rule for: it treats them by their plain gradient.
UNRULED_NONLINEAR_MODULES: tuple[type[nn.Module], ...] = (
    nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.PReLU, nn.SELU, nn.CELU, nn.GLU,
    nn.LogSigmoid, nn.Softsign, nn.Tanhshrink, nn.Softmin)
UNRULED_FUNCTIONS = {F.gelu: "gelu", F.silu: "silu", F.mish: "mish", F.hardswish: "hardswish",
                     F.selu: "selu", F.celu: "celu", F.prelu: "prelu"}


def _defaults(args: tuple, kwargs: dict, names: tuple[str, ...], defaults: tuple) -> list[Any]:
    """Positional-or-keyword arguments of a functional call after its first, with defaults."""
    values = list(defaults)
    for i, value in enumerate(args[1:len(names) + 1]):
        values[i] = value
    for i, name in enumerate(names):
        if name in kwargs:
            values[i] = kwargs[name]
    return values


def _relu(args, kwargs):
    return nn.ReLU()


def _elu(args, kwargs):
    alpha, _ = _defaults(args, kwargs, ("alpha", "inplace"), (1.0, False))
    return nn.ELU(alpha)


def _leaky_relu(args, kwargs):
    slope, _ = _defaults(args, kwargs, ("negative_slope", "inplace"), (0.01, False))
    return nn.LeakyReLU(slope)


def _softplus(args, kwargs):
    beta, threshold = _defaults(args, kwargs, ("beta", "threshold"), (1.0, 20.0))
    return nn.Softplus(beta, threshold)


def _softmax(args, kwargs):
    dim, = _defaults(args, kwargs, ("dim",), (None,))
    if kwargs.get("dtype") is not None:
        return None
    return nn.Softmax(dim)


def _max_pool(module_type):
    def build(args, kwargs):
        kernel, stride, padding, dilation, ceil_mode, return_indices = _defaults(
            args, kwargs, ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
            (None, None, 0, 1, False, False))
        if return_indices:
            return None
        return module_type(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    return build


@dataclass(frozen=True)
class FunctionalKind:
    name: str
    build: Callable[[tuple, dict], nn.Module | None]
    inplace: bool = False

    def is_inplace(self, kwargs: dict, args: tuple) -> bool:
        if self.inplace:
            return True
        if self.name in ("relu", "elu", "leaky_relu"):
            position = {"relu": 1, "elu": 2, "leaky_relu": 2}[self.name]
            return bool(kwargs.get("inplace", args[position] if len(args) > position else False))
        return False


# Functional nonlinearities, found by the function object itself (what __torch_function__ receives).
FUNCTIONAL: dict[Any, FunctionalKind] = {}
for _func in (F.relu, torch.relu, torch.Tensor.relu):
    FUNCTIONAL[_func] = FunctionalKind("relu", _relu)
for _func in (F.relu_, torch.relu_, torch.Tensor.relu_):
    FUNCTIONAL[_func] = FunctionalKind("relu", _relu, inplace=True)
for _func in (torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid):
    FUNCTIONAL[_func] = FunctionalKind("sigmoid", lambda a, k: nn.Sigmoid())
for _func in (torch.sigmoid_, torch.Tensor.sigmoid_):
    FUNCTIONAL[_func] = FunctionalKind("sigmoid", lambda a, k: nn.Sigmoid(), inplace=True)
for _func in (torch.tanh, torch.Tensor.tanh, F.tanh):
    FUNCTIONAL[_func] = FunctionalKind("tanh", lambda a, k: nn.Tanh())
for _func in (torch.tanh_, torch.Tensor.tanh_):
    FUNCTIONAL[_func] = FunctionalKind("tanh", lambda a, k: nn.Tanh(), inplace=True)
FUNCTIONAL[F.elu] = FunctionalKind("elu", _elu)
FUNCTIONAL[F.elu_] = FunctionalKind("elu", _elu, inplace=True)
FUNCTIONAL[F.leaky_relu] = FunctionalKind("leaky_relu", _leaky_relu)
FUNCTIONAL[F.leaky_relu_] = FunctionalKind("leaky_relu", _leaky_relu, inplace=True)
FUNCTIONAL[F.softplus] = FunctionalKind("softplus", _softplus)
for _func in (F.softmax, torch.softmax, torch.Tensor.softmax):
    FUNCTIONAL[_func] = FunctionalKind("softmax", _softmax)
FUNCTIONAL[F.max_pool1d] = FunctionalKind("max_pool1d", _max_pool(nn.MaxPool1d))
FUNCTIONAL[F.max_pool2d] = FunctionalKind("max_pool2d", _max_pool(nn.MaxPool2d))
FUNCTIONAL[F.max_pool3d] = FunctionalKind("max_pool3d", _max_pool(nn.MaxPool3d))


@dataclass(frozen=True)
class FunctionalSite:
    """A nonlinearity the forward pass applies as a function, and where."""

    kind: str
    module: str           # qualified name of the innermost module it runs in ("" for the model itself)
    inplace: bool
    replaceable: bool     # False when it cannot be given a module (e.g. softmax with dtype=...)

    def describe(self) -> str:
        where = f"in {self.module}" if self.module else "in the model's forward"
        return f"{self.kind}{'_ (in place)' if self.inplace else ''} {where}"


@dataclass
class ModelAnalysis:
    """What one probe forward pass saw."""

    input_shape: tuple[int, ...]
    calls: dict[str, int]                          # qualified name -> calls per forward pass
    output_shapes: dict[str, tuple[int, ...] | None]  # of the first call; None when not a single tensor
    order: list[str]                               # modules in the order their first call finished
    reused: dict[str, int]                         # modules (one name each) called more than once
    functional_sites: list[FunctionalSite]
    inplace_modules: list[str]
    unruled_nonlinear: list[str]                   # nonlinearities DeepLift has no rule for
    num_outputs: int | None
    public_names: dict[str, str] = field(default_factory=dict)  # call-site module -> graph node id

    def spatial_layers(self) -> list[str]:
        """Modules whose output is a (N, C, H, W) map bigger than 1x1, in forward order, named as
        the graph names them (``relu:1`` for the second call of a reused ``relu``)."""
        names = [self.public_names.get(name, name) for name in self.order
                 if (shape := self.output_shapes.get(name)) is not None and len(shape) == 4 and shape[2] * shape[3] > 1]
        return list(dict.fromkeys(names))


class CallSites(nn.Module):
    """Stands in for a module the forward pass calls several times: call k runs ``call<k>``."""

    def __init__(self, original: nn.Module, count: int, name: str) -> None:
        super().__init__()
        self.original_name = name
        self.count = count
        self.next_call = 0
        for k in range(count):
            self.add_module(f"call{k + 1}", shared_copy(original, share_registries=True))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        k = self.next_call
        if k >= self.count:
            raise ResvizError(f"{self.original_name} ran more than the {self.count} times per forward pass seen "
                              f"when the model was prepared; attribution needs a forward pass that does not change")
        self.next_call = k + 1
        return self._modules[f"call{k + 1}"](*args, **kwargs)

    def call_names(self) -> list[str]:
        return [f"{self.original_name}.call{k + 1}" for k in range(self.count)]


def _own_tensor(tensor: torch.Tensor, is_parameter: bool) -> torch.Tensor:
    if isinstance(tensor, nn.Parameter):
        return nn.Parameter(tensor.detach().clone(), requires_grad=tensor.requires_grad)
    return tensor.detach().clone()


def shared_copy(model: nn.Module, *, clone_tensors: bool = False, share_registries: bool = False) -> nn.Module:
    """A copy of the module tree (``resviz.graph.execution.copy_module_tree``): new module objects
    (own flags, no hooks), the same parameter and buffer tensors (or clones of them with
    ``clone_tensors``). Aliased modules stay aliased.

    ``share_registries`` keeps the very ``_parameters``/``_buffers`` dicts of the original, so a
    parameter or buffer the original later replaces (``load_state_dict(assign=True)``) is the
    copy's too; only the module tree itself is the copy's own."""
    if clone_tensors and share_registries:
        raise ValueError("clone_tensors and share_registries exclude each other")
    if share_registries:
        return copy_module_tree(model)
    return copy_module_tree(model, _own_tensor if clone_tensors else lambda tensor, is_parameter: tensor)


def _module_names(model: nn.Module) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        names.setdefault(id(module), []).append(name)
    return names


class _NonlinearDepth:
    """Counts how deep the forward pass is inside nonlinearity modules (their own F.relu is not functional)."""

    def __init__(self) -> None:
        self.depth = 0

    def enter(self, module, args):
        self.depth += 1

    def leave(self, module, args, output):
        self.depth -= 1


class _FunctionalSiteMode(TorchFunctionMode):
    """While a forward pass runs: record functional nonlinearities (probe) or send call k to module k."""

    def __init__(self, depth: _NonlinearDepth, module_stack: list[str] | None = None,
                 sites: list[nn.Module] | None = None) -> None:
        super().__init__()
        self.depth = depth
        self.module_stack = module_stack
        self.sites = sites
        self.index = 0
        self.recorded: list[tuple[FunctionalSite, nn.Module | None]] = []
        self.unruled: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = FUNCTIONAL.get(func) if _hashable(func) else None
        if kind is None or self.depth.depth > 0 or not args or not isinstance(args[0], torch.Tensor):
            if self.sites is None and self.depth.depth == 0 and _hashable(func) and func in UNRULED_FUNCTIONS:
                self.unruled.append(f"{UNRULED_FUNCTIONS[func]} (functional) in {self._where() or 'the forward'}")
            return func(*args, **kwargs)
        if self.sites is None:  # probing
            module = kind.build(args, kwargs)
            site = FunctionalSite(kind.name, self._where(), kind.is_inplace(kwargs, args), module is not None)
            self.recorded.append((site, module))
            return func(*args, **kwargs)
        k = self.index
        self.index += 1
        if k >= len(self.sites) or self.sites[k] is None:
            if k >= len(self.sites):
                raise ResvizError("the model's forward pass applied more functional nonlinearities than when it "
                                  "was prepared; attribution needs a forward pass that does not change")
            return func(*args, **kwargs)
        x = args[0]
        y = self.sites[k](x)
        if kind.is_inplace(kwargs, args):
            # Keep the in-place contract for callers that ignore the return value (``h.relu_()``),
            # while those that use it get the site's output itself, exactly as with a module.
            x.copy_(y)
        return y

    def _where(self) -> str:
        return self.module_stack[-1] if self.module_stack else ""


def _hashable(func: Any) -> bool:
    try:
        hash(func)
    except TypeError:
        return False
    return True


def _first_tensor_shape(output: Any) -> tuple[int, ...] | None:
    return tuple(output.shape) if isinstance(output, torch.Tensor) else None


def reset_call_sites(model: nn.Module, sites: list[CallSites] | None = None) -> None:
    for module in (model.modules() if sites is None else sites):
        if isinstance(module, CallSites):
            module.next_call = 0


def probe(model: nn.Module, example: torch.Tensor) -> tuple[ModelAnalysis, list[nn.Module | None]]:
    """Run one forward pass on ``model`` (already the eval copy) and record what attribution needs."""
    names = _module_names(model)
    calls: dict[int, int] = {}
    shapes: dict[int, tuple[int, ...] | None] = {}
    order: list[int] = []
    stack: list[str] = []
    depth = _NonlinearDepth()

    def pre(module, args):
        stack.append(names[id(module)][0])
        if isinstance(module, NONLINEAR_MODULES):
            depth.enter(module, args)

    def post(module, args, output):
        stack.pop()
        if isinstance(module, NONLINEAR_MODULES):
            depth.leave(module, args, output)
        key = id(module)
        calls[key] = calls.get(key, 0) + 1
        if key not in shapes:
            shapes[key] = _first_tensor_shape(output)
            order.append(key)

    hooked = [module for module in model.modules() if module is not model]  # modules() lists each module once
    mode = _FunctionalSiteMode(depth, module_stack=stack)
    reset_call_sites(model)
    with forward_hooks(hooked, pre, post, with_kwargs=False), torch.no_grad():
        try:
            with mode:
                output = model(example)
        except ResvizError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's model failed: say so in one line
            from ..graph.doctor import describe_failure

            raise ResvizError(f"the model failed on inputs of shape {tuple(example.shape)}: "
                              f"{describe_failure(model, exc)}") from exc
    reset_call_sites(model)
    by_name = {names[key][0]: key for key in calls}
    reused = {names[key][0]: count for key, count in calls.items()
              if count > 1 and not isinstance(_module_by_id(model, key), CallSites)}
    inplace = [name for name, module in model.named_modules() if getattr(module, "inplace", False) is True]
    unruled = [name for name, module in model.named_modules()
               if isinstance(module, UNRULED_NONLINEAR_MODULES) and id(module) in calls] + mode.unruled
    num_outputs = int(output.shape[1]) if isinstance(output, torch.Tensor) and output.dim() == 2 else None
    analysis = ModelAnalysis(
        input_shape=tuple(example.shape[1:]),
        calls={name: calls[key] for name, key in by_name.items()},
        output_shapes={name: shapes[key] for name, key in by_name.items()},
        order=[names[key][0] for key in order],
        reused=reused,
        functional_sites=[site for site, _ in mode.recorded],
        inplace_modules=inplace,
        unruled_nonlinear=unruled,
        num_outputs=num_outputs,
    )
    return analysis, [module for _, module in mode.recorded]


def model_failure(model: nn.Module, exc: BaseException, shape: tuple[int, ...]) -> ResvizError | None:
    """One line for an ``exc`` raised inside ``model``'s forward pass: the module that raised, and
    the shape doctor's fix for a shape mismatch. None when ``exc`` came from elsewhere."""
    from ..graph.doctor import explain_failure

    try:
        failure = explain_failure(model, exc)
    except Exception:  # noqa: BLE001 - explaining must never hide the failure itself
        return None
    if failure is None:
        return None
    return ResvizError(f"the model failed on inputs of shape {shape}: {failure.message()}")


def _module_by_id(model: nn.Module, key: int) -> nn.Module | None:
    for module in model.modules():
        if id(module) == key:
            return module
    return None


def _install_call_sites(model: nn.Module, reused: dict[str, int]) -> None:
    targets = {id(model.get_submodule(name)): (name, count) for name, count in reused.items()}
    stand_ins: dict[int, CallSites] = {}
    for parent in list(model.modules()):
        for slot, child in list(parent._modules.items()):
            if child is not None and id(child) in targets:
                if id(child) not in stand_ins:
                    name, count = targets[id(child)]
                    stand_ins[id(child)] = CallSites(child, count, name)
                parent._modules[slot] = stand_ins[id(child)]


def _structure_key(model: nn.Module) -> tuple:
    """Identities of every module (and of its parameter and buffer registries, shared with the
    copy): changes when a module is replaced. A plain walk over ``_modules``, as this runs on
    every call: ``named_modules()`` also builds every name and costs twice as much."""
    key: list[int] = []
    seen: set[int] = set()
    stack: list[nn.Module | None] = [model]
    while stack:
        module = stack.pop()
        if module is None or id(module) in seen:
            continue
        seen.add(id(module))
        state = module.__dict__
        key.extend((id(module), id(state["_parameters"]), id(state["_buffers"])))
        stack.extend(state["_modules"].values())
    return tuple(key)


@dataclass
class PreparedModel:
    """The eval-mode, hook-free copy of one model that attribution runs on."""

    model: nn.Module
    is_copy: bool
    lock: threading.RLock = field(default_factory=threading.RLock)
    analyses: dict[tuple[int, ...], ModelAnalysis] = field(default_factory=dict)
    sites: dict[tuple[int, ...], list[nn.Module | None]] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)    # what the model itself reuses / runs in place,
    inplace: list[str] = field(default_factory=list)        # remembered once the copy has been changed
    call_sites: list[CallSites] = field(default_factory=list)
    outputs: dict[tuple[int, ...], int | None] = field(default_factory=dict)  # classes per input shape
    _observed: dict[tuple, nn.Module] = field(default_factory=dict)

    def analyse(self, example: torch.Tensor) -> ModelAnalysis:
        """The probe's findings for inputs shaped like ``example`` (cached); installs call sites."""
        shape = tuple(example.shape[1:])
        with self.lock:
            if shape not in self.analyses:
                with _eval_mode(self.model, enabled=not self.is_copy):
                    analysis, sites = probe(self.model, example[:1])
                if analysis.reused:
                    if not self.is_copy:
                        raise ResvizError(
                            f"the model reuses {_describe_reuse(analysis.reused)} and cannot be copied to give each "
                            f"call its own module; attribution methods that hook modules would mix the calls")
                    _install_call_sites(self.model, analysis.reused)
                    self.call_sites = [m for m in self.model.modules() if isinstance(m, CallSites)]
                    first = analysis
                    with _eval_mode(self.model, enabled=not self.is_copy):
                        analysis, sites = probe(self.model, example[:1])
                    # Report what the model itself does, not the stand-ins just installed.
                    analysis.reused, analysis.inplace_modules = first.reused, first.inplace_modules
                analysis.public_names = {f"{sites_module.original_name}.call{k + 1}":
                                         sites_module.original_name if k == 0 else f"{sites_module.original_name}:{k}"
                                         for sites_module in self.call_sites for k in range(sites_module.count)}
                self.reused = {**self.reused, **analysis.reused}
                self.inplace = sorted({*self.inplace, *analysis.inplace_modules})
                analysis.reused, analysis.inplace_modules = dict(self.reused), list(self.inplace)
                if self.is_copy:
                    for module in self.model.modules():
                        if getattr(module, "inplace", False) is True:
                            module.inplace = False
                for site in sites:
                    if site is not None:
                        site.to(example.device)
                self.analyses[shape] = analysis
                self.sites[shape] = sites
            return self.analyses[shape]

    def num_outputs(self, example: torch.Tensor, run: Callable[[Callable[[], Any]], Any]) -> int | None:
        """How many class scores the model gives for inputs shaped like ``example`` (None when its
        output is not (N, classes)): from the probe when one ran, else one forward pass of one
        input through ``run`` (``running``'s runner), cached per input shape."""
        shape = tuple(example.shape[1:])
        with self.lock:
            if shape in self.analyses:
                return self.analyses[shape].num_outputs
            if shape not in self.outputs:
                with torch.no_grad():
                    out = run(lambda: self.model(example[:1]))
                self.outputs[shape] = int(out.shape[1]) if isinstance(out, torch.Tensor) and out.dim() == 2 else None
            return self.outputs[shape]

    def observed(self, factory: Callable[..., nn.Module], run: Callable, tracker: Any,
                 sites: list[nn.Module | None]) -> nn.Module:
        """The (cached) module Captum is given: the prepared model plus the functional-site modules,
        bound to this attribution's runner and progress. Call with the lock held (``running``)."""
        key = tuple(id(site) for site in sites if site is not None)
        cached = self._observed.get(key)
        if cached is None:
            cached = self._observed[key] = factory(self.model, [site for site in sites if site is not None])
        return cached.bind(run, tracker)

    def site_modules(self, example: torch.Tensor) -> list[nn.Module | None]:
        self.analyse(example)
        return self.sites[tuple(example.shape[1:])]

    @contextmanager
    def running(self, analysis: ModelAnalysis | None, example: torch.Tensor | None) -> Iterator[
            Callable[[Callable[[], Any]], Any]]:
        """Hold the model for one attribution; yields ``run(forward)`` that wraps each forward pass."""
        with self.lock, _eval_mode(self.model, enabled=not self.is_copy):
            sites = self.site_modules(example) if analysis is not None and example is not None else []
            replaceable = [s for s in sites if s is not None]
            if not replaceable:
                def run_plain(forward):
                    reset_call_sites(self.model, self.call_sites)
                    return forward()
                yield run_plain
                return
            depth = _NonlinearDepth()
            nonlinear = [module for module in self.model.modules() if isinstance(module, NONLINEAR_MODULES)]
            with forward_hooks(nonlinear, depth.enter, depth.leave, with_kwargs=False):
                def run_with_sites(forward):
                    reset_call_sites(self.model, self.call_sites)
                    depth.depth = 0
                    with _FunctionalSiteMode(depth, sites=sites):
                        return forward()
                yield run_with_sites


def _describe_reuse(reused: dict[str, int]) -> str:
    return ", ".join(f"{name} ({count} calls)" for name, count in reused.items())


def _eval_mode(model: nn.Module, *, enabled: bool) -> AbstractContextManager[None]:
    """Eval mode for the duration (``resviz.graph.execution.eval_mode``), when ``enabled``."""
    return eval_mode(model) if enabled else nullcontext()


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, PreparedModel]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def prepare_model(model: nn.Module) -> PreparedModel:
    """The cached prepared copy of ``model``, rebuilt when its modules or parameters were replaced."""
    key = _structure_key(model)
    with _CACHE_LOCK:
        cached = _CACHE.get(model)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            copy = shared_copy(model, share_registries=True)
            copy.eval()
            prepared = PreparedModel(copy, is_copy=True)
        except Exception:  # noqa: BLE001 - an uncopyable model is used as it is, in eval mode while it runs
            prepared = PreparedModel(model, is_copy=False)
        _CACHE[model] = (key, prepared)
        return prepared
