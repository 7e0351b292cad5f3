"""The shape doctor: why a forward pass failed, where, and how to fix it, in one line.

A bare ``RuntimeError: The size of tensor a (128) must match the size of tensor b (64) at
non-singleton dimension 1`` becomes::

    ResNetBlock: add of (1, 128, 32, 32) and (1, 64, 32, 32) fails: the shortcut carries 64
    channels but the branch gives 128; fix: add a 1x1 projection: nn.Conv2d(64, 128,
    kernel_size=1, stride=1) (+ norm) on the shortcut

Likewise for an input of the wrong size or channel count ("conv1 expects 3 input channels,
got 1 from the input ..."). The doctor finds the place by replaying the forward pass with
the fallback tracer's recorder, which knows the running module and which tensor is the
block's input (the shortcut).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ResvizError, one_line
from ..formatting import format_full_shape
from .execution import eval_mode, example_args, model_device, to_device, to_meta, tracing_copy
from .opgraph import collect_module_info, id_base
from .ops import ADD_OPS, CONCAT_OPS
from .trace_hooks import FailurePoint, ForwardRecorder

_ELEMENTWISE_MERGES = ADD_OPS | {"sub", "sub_", "isub", "mul", "mul_", "imul", "truediv", "div", "div_"}


class ForwardError(ResvizError):
    """The model's forward pass failed on the example input; ``report`` says where and why."""

    def __init__(self, message: str, report: ShapeReport) -> None:
        super().__init__(message)
        self.report = report


class ShapeError(ForwardError):
    """A shape mismatch: at a merge, or between the input and the layer that takes it."""


@dataclass
class ShapeReport:
    module: str  # qualified name of the module where it failed ("" for the model itself)
    module_type: str
    op: str | None  # the op that raised (add, cat, conv2d, linear ...), None for Python code
    shapes: list[tuple[int, ...]]  # the shapes it was given
    problem: str
    fix: str | None
    error: str  # the original exception, one line
    kind: str  # "merge", "input", "layer" or "forward"
    model_type: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        if not self.module:
            return self.model_type or self.module_type or "the model"
        return f"{self.module} ({self.module_type})" if self.module_type else self.module

    def message(self) -> str:
        if self.problem.startswith("expects"):  # a layer's complaint reads as a sentence: "conv1 expects ..."
            text = f"{self.module or self.where} {self.problem}"
        else:
            text = f"{self.where}: {self.problem}"
        return f"{text}; fix: {self.fix}" if self.fix else text

    def to_error(self) -> ForwardError:
        cls = ForwardError if self.kind == "forward" else ShapeError
        return cls(self.message(), self)

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "module_type": self.module_type, "op": self.op,
                "shapes": [list(s) for s in self.shapes], "problem": self.problem, "fix": self.fix,
                "error": self.error, "kind": self.kind, "message": self.message()}


def record_forward(model: nn.Module, args: tuple[Any, ...]) -> tuple[ForwardRecorder, str]:
    """One recorded forward pass, on meta if it runs there, else on the model's device: the
    fallback tracer's pass, and the doctor's replay.

    Raises the shape doctor's error when the pass fails on the real device too.
    """
    try:
        with tracing_copy(model, "meta") as (copy, parameter_ids):
            info = collect_module_info(copy)
            with eval_mode(copy, info.modules.values()):
                recorder = ForwardRecorder(copy, info, meta=True, param_ids=parameter_ids)
                recorder.run(to_meta(args), copy)
        return recorder, "meta"
    except Exception:  # noqa: BLE001 - not runnable on meta: run it for real below
        pass
    device = model_device(model)
    with tracing_copy(model, "real") as (copy, parameter_ids):
        info = collect_module_info(copy)
        with eval_mode(copy, info.modules.values()):
            recorder = ForwardRecorder(copy, info, meta=False, param_ids=parameter_ids)
            try:
                recorder.run(to_device(args, device), copy)
            except Exception as exc:  # noqa: BLE001 - explained by the shape doctor
                raise report_failure(copy, args, recorder, exc).to_error() from exc
    return recorder, str(device)


def diagnose(model: nn.Module, example_input: Any = None) -> ShapeReport | None:
    """Run the model once on ``example_input``; None when it works, else what went wrong."""
    args = example_args(model, example_input)
    try:
        record_forward(model, args)
    except ForwardError as exc:
        return exc.report
    return None


def explain_forward_error(model: nn.Module, example_input: Any, exc: BaseException) -> ShapeReport:
    """Explain ``exc``, raised by ``model`` on ``example_input``, replaying the pass to find where."""
    args = example_args(model, example_input)
    try:
        record_forward(model, args)
    except ForwardError as replayed:
        return replayed.report
    except Exception:  # noqa: BLE001 - the replay itself broke: explain from the exception alone
        pass
    return ShapeReport("", type(model).__name__, None, [], f"forward raised {one_line(exc)}",
                       None, one_line(exc), "forward", type(model).__name__)


# PyTorch's words for inputs whose shapes do not fit: worth a replay by the doctor.
_SHAPE_ERROR = re.compile(
    r"must match the size of tensor|Sizes of tensors must match|shapes cannot be multiplied|size mismatch"
    r"|to have \d+ channels|Expected \d+D .*input|is invalid for input of size|must match the existing size"
    r"|running_mean should contain|Calculated padded input size|Kernel size can't be greater|output size is too small"
    r"|expected input with shape|Expected input batch_size|doesn't match the broadcast shape|must have the same shape",
    re.IGNORECASE)
_CALL_FRAMES = ("_call_impl", "_wrapped_call_impl")


@dataclass
class FailedForward:
    """Where a forward pass of a model raised: the innermost of its modules whose forward was running."""

    module: str                     # qualified name ("" for the model itself)
    module_type: str
    error: str                      # the exception, one line
    report: ShapeReport | None = None  # the doctor's diagnosis, for a shape mismatch

    @property
    def where(self) -> str:
        return f"{self.module} ({self.module_type})" if self.module else self.module_type

    def message(self) -> str:
        """``layer1.0 (ResNetBlock): add of ... fails: ...; fix: ...`` or ``body.1 (Inner) raised RuntimeError: ...``."""
        return self.report.message() if self.report is not None else f"{self.where} raised {self.error}"


def explain_failure(model: nn.Module, exc: BaseException) -> FailedForward | None:
    """Which of ``model``'s modules was running when ``exc`` was raised, from its traceback (nothing
    runs again for that); for a shape mismatch, also the doctor's diagnosis and fix, found by
    replaying the failed forward pass on a copy with the same inputs. None when ``exc`` was not
    raised inside ``model``'s forward pass."""
    names = {id(module): name for name, module in model.named_modules(remove_duplicate=False)}
    innermost: tuple[str, nn.Module] | None = None
    replay: tuple[str, nn.Module, tuple[Any, ...]] | None = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self")
        name = names.get(id(owner)) if isinstance(owner, nn.Module) else None
        if name is not None:
            innermost = (name, owner)
            args, kwargs = frame.f_locals.get("args"), frame.f_locals.get("kwargs")
            if (replay is None and frame.f_code.co_name in _CALL_FRAMES and isinstance(args, tuple) and args
                    and not kwargs):
                replay = (name, owner, args)  # the outermost call: the pass as the caller made it
        tb = tb.tb_next
    if innermost is None:
        return None
    name, module = innermost
    failure = FailedForward(name, type(module).__name__, one_line(exc))
    if replay is not None and _SHAPE_ERROR.search(str(exc)):
        failure.report = _replayed_report(model, *replay)
    return failure


def describe_failure(model: nn.Module, exc: BaseException) -> str:
    """``explain_failure``'s message when ``exc`` came from ``model``'s forward pass, else the
    exception in one line. Never raises: explaining must not hide the failure itself."""
    try:
        failure = explain_failure(model, exc)
    except Exception:  # noqa: BLE001
        failure = None
    return failure.message() if failure is not None else one_line(exc)


def describe_failed_forward(model: nn.Module, exc: BaseException, when: str) -> str | None:
    """``the forward pass failed at WHEN: WHERE and WHY`` for an ``exc`` raised inside ``model``'s
    forward pass, else None. Never raises: explaining must not hide the failure itself."""
    try:
        failure = explain_failure(model, exc)
    except Exception:  # noqa: BLE001
        return None
    return None if failure is None else f"the forward pass failed at {when}: {failure.message()}"


_LIBRARY_FOLDERS = (str(Path(torch.__file__).parent), str(Path(__file__).resolve().parents[1]))


def describe_failed_backward(exc: BaseException, when: str) -> str:
    """``the backward pass failed at WHEN in WHERE: ERROR``: WHERE is the innermost frame of code
    that is neither PyTorch's nor resviz's (an autograd Function's ``backward``, a hook), when
    there is one; autograd's own errors (an in-place change of a saved tensor) have none."""
    where = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(_LIBRARY_FOLDERS):
            name = getattr(code, "co_qualname", code.co_name)
            where = f"{name} ({Path(code.co_filename).name}:{tb.tb_lineno})"
        tb = tb.tb_next
    place = f" in {where}" if where else ""
    return f"the backward pass failed at {when}{place}: {one_line(exc)}"


def _replayed_report(model: nn.Module, root_name: str, root: nn.Module, args: tuple[Any, ...]) -> ShapeReport | None:
    """The doctor's report for ``root`` run on ``args`` again (on a copy), named from ``model``'s top."""
    try:
        report = diagnose(root, args)
    except Exception:  # noqa: BLE001 - the replay itself broke: the traceback's module is all there is
        return None
    if report is None or report.kind == "forward":
        return None  # it did not fail again as a shape mismatch: nothing better than the traceback
    if root_name:
        module = f"{root_name}.{report.module}" if report.module else root_name
        module_type = report.module_type if report.module else type(root).__name__
        report = ShapeReport(module, module_type, report.op, report.shapes, report.problem, report.fix,
                             report.error, report.kind, type(model).__name__, report.details)
    return report


def report_failure(model: nn.Module, args: tuple[Any, ...], recorder: ForwardRecorder,
                   exc: BaseException) -> ShapeReport:
    """The report for a pass the recorder watched fail."""
    failure = recorder.failure
    model_type = type(model).__name__
    if failure is None or failure.exception is None:
        failure = FailurePoint("", model_type, None, [], [], [], exc)
    return _Diagnosis(model, args, recorder, failure, exc).report()


def _spatial(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


class _Diagnosis:
    def __init__(self, model: nn.Module, args: tuple[Any, ...], recorder: ForwardRecorder, failure: FailurePoint,
                 exc: BaseException) -> None:
        self.model = model
        self.args = args
        self.recorder = recorder
        self.failure = failure
        self.exc = exc
        self.model_type = type(model).__name__
        self.input_shapes = [tuple(int(d) for d in a.shape) for a in args if hasattr(a, "shape")]

    def _report(self, problem: str, fix: str | None, kind: str, **details: Any) -> ShapeReport:
        f = self.failure
        module_type = f.module_type if f.module else self.model_type
        return ShapeReport(f.module, module_type, f.op, list(f.shapes), problem, fix, one_line(self.exc), kind,
                           self.model_type, details)

    def report(self) -> ShapeReport:
        f = self.failure
        if f.leaf:
            return self._leaf()
        if f.op is None:
            return self._report(f"forward raised {one_line(self.exc)}", None, "forward")
        if f.op in _ELEMENTWISE_MERGES and len(f.shapes) >= 2 and f.shapes[0] != f.shapes[1]:
            return self._add_merge()
        if f.op in CONCAT_OPS and len(f.shapes) >= 2:
            return self._concat()
        return self._generic()

    # -- merges ------------------------------------------------------------------------------
    def _order(self, source: str | None) -> int:
        graph = self.recorder.builder.graph
        if source is None or source not in graph:
            return -1  # not traced: a constant made before anything else
        return graph.nodes[source]["order"]

    def _shortcut_index(self) -> int:
        """Which operand is the shortcut: the one the running module was given, else the older one."""
        f = self.failure
        block_inputs = set(f.frames[-1].sources) if f.frames else set()
        given = [i for i, s in enumerate(f.sources[:2]) if s is not None and s in block_inputs]
        if len(given) == 1:
            return given[0]
        return 0 if self._order(f.sources[0]) < self._order(f.sources[1]) else 1

    def _add_merge(self) -> ShapeReport:
        f = self.failure
        a, b = f.shapes[0], f.shapes[1]
        short_index = self._shortcut_index()
        short, branch = (a, b) if short_index == 0 else (b, a)
        head = f"{id_base(f.op)} of {format_full_shape(a)} and {format_full_shape(b)} fails: "
        fix = None
        differences = []
        if len(short) != len(branch):
            differences.append(f"the shortcut is {len(short)}-D but the branch {len(branch)}-D")
        elif len(short) >= 3 and short[0] == branch[0]:
            if short[1] != branch[1]:
                differences.append(f"the shortcut carries {short[1]} channels but the branch gives {branch[1]}")
            if short[2:] != branch[2:]:
                differences.append(f"the branch changes the spatial size from {_spatial(short[2:])} to "
                                   f"{_spatial(branch[2:])}")
            stride = _stride(short[2:], branch[2:])
            if stride is not None:
                conv = {3: "Conv1d", 4: "Conv2d", 5: "Conv3d"}.get(len(short), "Conv2d")
                fix = (f"add a 1x1 projection: nn.{conv}({short[1]}, {branch[1]}, kernel_size=1, stride={stride}) "
                       f"(+ norm) on the shortcut")
            else:
                fix = ("no strided 1x1 projection maps the shortcut onto the branch; check the padding of the "
                       "branch's convolutions")
        elif len(short) == 2 and short[0] == branch[0]:
            differences.append(f"the shortcut has {short[1]} features but the branch gives {branch[1]}")
            fix = f"add a projection: nn.Linear({short[1]}, {branch[1]}) on the shortcut"
        else:
            differences.append(f"the shortcut is {format_full_shape(short)} but the branch gives {format_full_shape(branch)}")
        problem = head + " and ".join(differences) if differences else head + one_line(self.exc)
        return self._report(problem, fix, "merge", shortcut=short, branch=branch)

    def _concat(self) -> ShapeReport:
        f = self.failure
        dim = f.details.get("dim", 1)
        shapes = f.shapes
        if len({len(s) for s in shapes}) > 1:
            problem = f"cat of {', '.join(format_full_shape(s) for s in shapes)} fails: they have different numbers of dimensions"
            return self._report(problem, "flatten or reshape them to the same rank first", "merge")
        rank = len(shapes[0])
        dim = dim % rank if rank else 0
        differing = [d for d in range(rank) if d != dim and len({s[d] for s in shapes}) > 1]
        problem = (f"cat along dim {dim} of {', '.join(format_full_shape(s) for s in shapes)} fails: sizes differ in "
                   f"dim {', '.join(map(str, differing))}") if differing else f"cat fails: {one_line(self.exc)}"
        fix = None
        if differing and rank >= 3 and all(d >= 2 for d in differing):
            short_index = self._shortcut_index() if len(shapes) >= 2 else 0
            target = shapes[1 - short_index] if len(shapes) == 2 else shapes[-1]
            size = ", ".join(str(target[d]) for d in range(2, rank))
            fix = (f"resize the skip to {_spatial(target[2:])} before concatenating "
                   f"(F.interpolate(skip, size=({size},)) or a center crop)")
        return self._report(problem, fix, "merge")

    # -- layers --------------------------------------------------------------------------------
    def _layer_input(self) -> tuple[tuple[int, ...] | None, str | None]:
        frames = self.failure.frames
        if not frames or not frames[-1].shapes:
            return None, None
        return frames[-1].shapes[0], frames[-1].sources[0] if frames[-1].sources else None

    def _source_text(self, source: str | None, shape: tuple[int, ...]) -> str:
        if source is not None and source in self.recorder.builder.inputs:
            return f"the input {format_full_shape(shape)}"
        return f"{source} {format_full_shape(shape)}" if source else format_full_shape(shape)

    def _input_hint(self) -> tuple[str | None, bool]:
        """A fix naming the input the model expects, and whether the example input is at fault."""
        expected = getattr(self.model, "input_shape", None)
        if expected and self.input_shapes:
            got = self.input_shapes[0]
            want = (got[0] if len(got) == len(expected) + 1 else 1, *tuple(expected))
            if tuple(got) != want:
                return (f"give an input of shape {format_full_shape(('N', *tuple(expected)))}".replace("'", "")
                        + f" (the model's input_shape), not {format_full_shape(got)}", True)
        return None, False

    def _leaf(self) -> ShapeReport:
        f = self.failure
        try:
            module = self.model.get_submodule(f.module) if f.module else self.model
        except AttributeError:
            module = None
        x, source = self._layer_input()
        from_input = source is not None and source in self.recorder.builder.inputs
        input_fix, input_wrong = self._input_hint()
        kind = "input" if (input_wrong or from_input) else "layer"
        if x is None or module is None:
            return self._generic()
        came = self._source_text(source, x)
        if isinstance(module, nn.modules.conv._ConvNd):
            spatial = len(module.kernel_size)
            letters = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[spatial]
            if len(x) not in (spatial + 1, spatial + 2):
                fix = input_fix or f"reshape it to {letters}"
                return self._report(f"expects a {spatial + 2}-D input {letters}, got a {len(x)}-D one: {came}", fix,
                                    kind)
            channels = x[1] if len(x) == spatial + 2 else x[0]
            if channels != module.in_channels:
                problem = f"expects {module.in_channels} input channels, got {channels} from {came}"
                if kind == "input":
                    channels_wanted = module.in_channels
                    want = input_fix or f"give an input with {channels_wanted} channels: (N, {channels_wanted}, ...)"
                    return self._report(problem, want, kind, expected=module.in_channels, got=channels)
                fix = f"set in_channels={channels}, or make {source} produce {module.in_channels} channels"
                return self._report(problem, fix, kind, expected=module.in_channels, got=channels)
            return self._too_small(module, x, came, input_fix, kind)
        if isinstance(module, nn.Linear):
            if x and x[-1] != module.in_features:
                problem = f"expects {module.in_features} input features, got {x[-1]} from {came}"
                fix = input_fix or f"set in_features={x[-1]}, or change what feeds it to give {module.in_features}"
                return self._report(problem, fix, kind, expected=module.in_features, got=x[-1])
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            want_dims = {"BatchNorm1d": (2, 3), "BatchNorm2d": (4,), "BatchNorm3d": (5,)}.get(type(module).__name__)
            if want_dims and len(x) not in want_dims:
                fix = input_fix or "add the batch dimension"
                return self._report(f"expects a {'- or '.join(map(str, want_dims))}-D input, got a {len(x)}-D one: "
                                    f"{came}", fix, kind)
            if len(x) >= 2 and x[1] != module.num_features:
                problem = f"expects {module.num_features} channels, got {x[1]} from {came}"
                fix = input_fix or f"set num_features={x[1]}"
                return self._report(problem, fix, kind)
        if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
            return self._too_small(module, x, came, input_fix, kind)
        return self._generic(kind=kind, fix=input_fix)

    def _too_small(self, module: nn.Module, x: tuple[int, ...], came: str, input_fix: str | None,
                   kind: str) -> ShapeReport:
        kernel = getattr(module, "kernel_size", None)
        spatial_dims = len(kernel) if isinstance(kernel, tuple) else 2
        spatial = x[-spatial_dims:]
        kernel_t = kernel if isinstance(kernel, tuple) else (kernel,) * spatial_dims
        padding = getattr(module, "padding", 0)
        padding_t = padding if isinstance(padding, tuple) else (padding,) * spatial_dims
        if isinstance(padding, str):
            padding_t = (0,) * spatial_dims
        if any(s + 2 * p < k for s, p, k in zip(spatial, padding_t, kernel_t)):
            problem = (f"input {_spatial(spatial)} from {came} is smaller than its {_spatial(kernel_t)} kernel")
            return self._report(problem, input_fix or "give a larger input, or remove a downsampling step", "input"
                                if input_fix else kind)
        return self._generic(kind=kind, fix=input_fix)

    def _generic(self, kind: str = "layer", fix: str | None = None) -> ShapeReport:
        f = self.failure
        shapes = ", ".join(format_full_shape(s) for s in f.shapes)
        text = one_line(self.exc)
        match = re.search(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)", text)
        if match and not fix:
            fix = "make both operands the same shape"
        problem = f"{f.op} on {shapes} failed: {text}" if shapes else f"{f.op} failed: {text}"
        return self._report(problem, fix, kind)


def _stride(short: tuple[int, ...], branch: tuple[int, ...]) -> int | tuple[int, ...] | None:
    if len(short) != len(branch) or not short:
        return None
    strides = []
    for s, b in zip(short, branch):
        if b <= 0 or s < b:
            return None
        stride = -(-s // b)  # ceil: a stride-2 1x1 conv maps 7 to 4, as a stride-2 3x3 with padding 1 does
        if -(-s // stride) != b:
            return None
        strides.append(stride)
    return strides[0] if len(set(strides)) == 1 else tuple(strides)
