"""The adapter protocol: how the suite talks to a framework.

An adapter is found by name in ``adapters.registry``; it imports its framework
lazily (importing ``adapters`` imports no framework). For each case it says how
it covers the loss (``Support``: native, composed from the framework's own
primitives, or unsupported with a reason), which documented policies apply,
and runs forward + backward in a dtype on a device, handing back float64 NumPy.

A framework adapter lists one ``Recipe`` per loss; a recipe's ``fn`` receives
the framework's tensors and returns the (reduced) loss tensor.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from conformance.vocab.case import Case
from conformance.vocab.catalog import SAMPLE_WEIGHT

from .native_logs import filtered_stderr

KINDS = ("native", "composed", "unsupported")
#: the devices an adapter may run on
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Support:
    kind: str            # native | composed | unsupported
    api: str = ""        # what is called, e.g. "torch.nn.functional.cross_entropy"
    reason: str = ""     # why unsupported / what the composition does

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"support kind must be one of {KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class Policy:
    """A documented departure from the mathematics, as oracle keyword arguments.

    ``knobs`` may be a function of the dtype name when the framework realises
    the constant in the tensor's dtype (Keras clips to [1e-7, 1 - 1e-7] *as
    rounded to the tensor's dtype*). A constant that the dtype destroys (torch's
    1e-12 floor is 0 in float16) stays as documented: the loss of the intent
    is then a finding, not a policy.
    """
    knobs: Mapping[str, Any] | Callable[[str], Mapping[str, Any]]
    citation: str
    summary: str

    def knobs_for(self, dtype: str) -> Mapping[str, Any]:
        return self.knobs(dtype) if callable(self.knobs) else self.knobs


@dataclass(frozen=True)
class Output:
    value: np.ndarray
    grads: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: the framework's dtype of the value (checked where a mode documents it: autocast)
    dtype: str | None = None
    #: Hessian-vector products, argument -> H v with v = ``hvp_direction`` (the forward mode)
    hvp: Mapping[str, np.ndarray] = field(default_factory=dict)


class ModeUnsupported(Exception):
    """Raised by an adapter that finds, when it runs, that the framework cannot run this
    case in the mode asked for (no forward-mode formula for an op; a recipe composed from
    ops where the mode is about the framework's own loss): ``unsupported`` with the text."""


def hvp_direction(shape: tuple[int, ...], name: str) -> np.ndarray:
    """The direction v of the Hessian-vector product checked for argument ``name``: entries
    in {-1, -1/2, 1/2, 1} (exact in every dtype), fixed by the name and the shape, so the
    framework and the oracle use the same v."""
    seed = sum(ord(c) * 31 ** i for i, c in enumerate(name)) % (2 ** 32)
    rng = np.random.default_rng([seed, *shape])
    return rng.choice(np.array([-1.0, -0.5, 0.5, 1.0]), size=shape)


@dataclass(frozen=True)
class Recipe:
    fn: Callable[..., Any]
    api: str
    kind: str | Callable[[Case], str] = "native"
    unsupported: Callable[[Case], str | None] | None = None
    dtypes: tuple[str, ...] | None = None     # claimed dtypes, when narrower than the adapter's
    #: parameters a compiling adapter (JAX) must compile in rather than trace
    #: (used in Python control flow); flags and strings always are
    static: tuple[str, ...] = ()
    #: parameters decided from the concrete inputs before compiling, compiled in
    #: (JAX's cross-entropy: native or composed, from the target's values)
    decided: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None
    #: modes (other than the adapter's default) this recipe cannot run in, mode -> why
    modes_lacking: Mapping[str, str] = field(default_factory=dict)
    #: the recipe takes a ``sample_weight`` array itself (otherwise the adapter composes
    #: the weighting from the recipe's reduction 'none': ``FrameworkAdapter.weigh``)
    sample_weights: bool = False
    #: a compiling adapter (JAX: one executable per shape) may pad the inputs to
    #: bucket sizes with what the API itself masks (CTC's paddings): (arrays, params)
    #: -> (padded arrays, per padded argument the index of the input's part of it),
    #: or None to leave the input as it is
    padded: Callable[[Mapping[str, np.ndarray], Mapping[str, Any]],
                     tuple[dict[str, np.ndarray], dict[str, tuple]] | None] | None = None

    def support(self, case: Case) -> Support:
        reason = self.unsupported(case) if self.unsupported else None
        if reason:
            return Support("unsupported", self.api, reason)
        kind = self.kind(case) if callable(self.kind) else self.kind
        return Support(kind, self.api)


class FrameworkAdapter:
    """Shared behaviour; subclasses set ``name``, ``recipes``, ``policies_by_loss``
    and implement ``_import``, ``version``, ``devices``, ``_run``."""

    name: str = ""
    #: The dtypes the framework claims (documents) for its losses. The suite runs
    #: the others too: a refusal there is ``unsupported`` with the framework's
    #: own error text, a refusal of a claimed dtype is ``error-mismatch``.
    dtypes: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")
    #: worker processes a run gives this framework (it shares its cells between them)
    workers: int = 1
    recipes: Mapping[str, Recipe] = {}
    policies_by_loss: Mapping[str, Policy] = {}
    #: Policy used when the oracle refuses the input (DomainError) and the
    #: framework documents that it does not check values at run time.
    unchecked_values: Policy | None = None
    #: The execution mode of the framework's plain call (conformance/vocab/modes.py)
    default_mode: str = "eager"
    #: The other modes the adapter runs a loss in: mode -> what is called
    #: (``_prepare`` then gets ``mode=``); a mode not listed is unsupported.
    modes: Mapping[str, str] = {}
    #: Why a mode is not offered, mode -> reason (otherwise a generic one is given)
    modes_lacking: Mapping[str, str] = {}
    #: modes whose surface takes ``sample_weight`` itself (Keras's classes): the recipe
    #: is not wrapped in the composition of ``weigh``
    modes_weighing: tuple[str, ...] = ()

    def documented_dtype(self, mode: str, loss: str, dtype: str) -> str | None:
        """The value's dtype the framework documents for ``loss`` in ``mode`` on inputs of
        ``dtype`` (autocast's op lists), or None where nothing is documented."""
        return None

    def plain_dtype(self, mode: str, dtype: str) -> str:
        """The dtype of the plain call a mode's result is compared with: the case's, except
        where the mode documents that it computes in another (autocast: float32)."""
        return dtype

    def weigh(self, terms: Any, weights: Any, reduction: str) -> Any:
        """The sample-weighted reduction of a recipe's terms in the framework's own ops
        (reference/sample_weights.py says what each reduction is); an adapter without
        it has no sample-weighted cases."""
        raise NotImplementedError(f"{self.name} composes no sample weights")

    def recipe_for(self, case: Case, mode: str | None = None) -> Recipe:
        """The loss's recipe, or where the case has sample weights the recipe (or the mode's
        surface) doesn't take, the composition: the recipe's 'none' terms weighed by ``weigh``."""
        recipe = self.recipes[case.loss]
        if SAMPLE_WEIGHT not in case.arrays or recipe.sample_weights or mode in self.modes_weighing:
            return recipe
        cache = self.__dict__.setdefault("_weighted_recipes", {})
        if id(recipe) not in cache:
            inner, weigh = recipe.fn, self.weigh

            def weighted(a: Mapping[str, Any], p: Mapping[str, Any], r: str) -> Any:
                rest = {k: v for k, v in a.items() if k != SAMPLE_WEIGHT}
                return weigh(inner(rest, p, "none"), a[SAMPLE_WEIGHT], r)
            cache[id(recipe)] = (recipe, dataclasses.replace(
                recipe, fn=weighted, kind="composed", sample_weights=True,
                api=f"{recipe.api}; sample weights composed: its reduction='none' terms times sample_weight, "
                    f"then summed (over the count for 'mean', over the weights' sum for 'weighted_mean')"))
        return cache[id(recipe)][1]

    def mode_unsupported(self, mode: str, loss: str | None = None) -> str | None:
        """None when the adapter runs ``mode`` (for ``loss``, when given); otherwise why not."""
        if mode == self.default_mode:
            return None
        if mode in self.modes:
            recipe = self.recipes.get(loss) if loss else None
            return recipe.modes_lacking.get(mode) if recipe is not None else None
        return self.modes_lacking.get(mode, f"{self.name} has no {mode} mode in this suite (its plain call is "
                                            f"{self.default_mode})")

    def unavailable(self) -> str | None:
        """None when the framework imports; otherwise the reason (import error text)."""
        try:
            self._import()
        except Exception as exc:  # noqa: BLE001 - any import failure is a reason
            return f"{self.name} is not importable: {type(exc).__name__}: {exc}"
        return None

    def mode_support(self, case: Case, mode: str) -> Support | None:
        """How a surface mode covers the case, where it calls something other than the
        recipe's API (torch's Module, Keras's class); None: as the plain call."""
        return None

    def support(self, case: Case, mode: str | None = None) -> Support:
        found = self.mode_support(case, mode) if mode else None
        if found is not None:
            return found
        if case.loss not in self.recipes:
            return Support("unsupported", "", f"{self.name} has no recipe for {case.loss}")
        recipe = self.recipes[case.loss]
        if SAMPLE_WEIGHT in case.arrays and not recipe.sample_weights and mode not in self.modes_weighing and \
                type(self).weigh is FrameworkAdapter.weigh:
            return Support("unsupported", recipe.api, f"{self.name} composes no sample weights")
        try:
            recipe = self.recipe_for(case, mode)
            found = recipe.support(case)
        except Exception as exc:  # noqa: BLE001 - a user's recipe: its fault, said once
            raise AdapterContractError(f"adapter {self.name!r}: the {case.loss} recipe's support (unsupported or "
                                       f"kind) raised {type(exc).__name__}: {exc}") from None
        if not isinstance(found, Support):
            raise AdapterContractError(f"adapter {self.name!r}: the {case.loss} recipe's support is a "
                                       f"{type(found).__name__}, not a Support")
        missing = missing_api(found.api) if found.kind == "native" else None
        return Support("unsupported", found.api, missing) if missing else found

    def claimed_dtypes(self, loss: str) -> tuple[str, ...]:
        recipe = self.recipes.get(loss)
        return recipe.dtypes if recipe is not None and recipe.dtypes is not None else self.dtypes

    def policy(self, loss: str) -> Policy | None:
        return self.policies_by_loss.get(loss)

    def run(self, case: Case, arrays: Mapping[str, np.ndarray], dtype: str, device: str,
            wrt: tuple[str, ...], mode: str | None = None) -> Output:
        """Evaluate ``case.loss`` on ``arrays`` (already rounded to ``dtype``,
        float64 containers) and the gradient of sum(loss) w.r.t. ``wrt``, in ``mode``
        (None: the default). What the adapter hands back must be an ``Output`` of
        real arrays with a gradient for each of ``wrt``: anything else is an
        ``AdapterContractError`` (the run stops with that one message), not a
        discrepancy of the framework."""
        recipe = self.recipe_for(case, mode)
        if mode is None or mode == self.default_mode:
            out = self._run(recipe, arrays, dict(case.params), case.reduction, dtype, device, wrt)
        else:
            out = self._prepare(recipe, arrays, dict(case.params), case.reduction, dtype, device, wrt, mode=mode)()
        return checked_output(self.name, case.loss, out, wrt)

    def prepare(self, case: Case, arrays: Mapping[str, np.ndarray], dtype: str, device: str,
                wrt: tuple[str, ...], mode: str | None = None) -> Callable[[], Output]:
        """``run`` split in two: the inputs are converted to the framework's tensors
        once, and the callable runs forward + backward on them (the bench's floor)."""
        extra = {} if mode is None or mode == self.default_mode else {"mode": mode}
        return self._prepare(self.recipe_for(case, mode), arrays, dict(case.params), case.reduction,
                             dtype, device, wrt, **extra)

    def environment(self) -> dict[str, Any]:
        """What a reader of the results needs to know about the run's numerics:
        devices, GPU model and CUDA version, reduced-precision modes (recorded in run.json)."""
        return {"devices": list(self.devices())}

    def release(self) -> None:
        """Called when the engine has finished a loss: drop per-shape caches."""

    # -- to implement --------------------------------------------------------
    def _import(self) -> Any:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    def devices(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _run(self, recipe: Recipe, arrays, params, reduction, dtype, device, wrt) -> Output:
        """Implement this, or ``_prepare``."""
        if type(self)._prepare is FrameworkAdapter._prepare:
            raise NotImplementedError
        return self._prepare(recipe, arrays, params, reduction, dtype, device, wrt)()

    def _prepare(self, recipe: Recipe, arrays, params, reduction, dtype, device, wrt) -> Callable[[], Output]:
        """Convert once, compute in the callable; by default the callable is ``_run``."""
        return lambda: self._run(recipe, arrays, params, reduction, dtype, device, wrt)


class AdapterContractError(Exception):
    """An adapter broke the protocol (its ``_run`` returned something that is not an
    ``Output`` of real arrays): a fault of the adapter, reported once, not per case."""


def _real_array(what: str, value: Any) -> np.ndarray:
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{what} is {type(value).__name__}")
    try:
        a = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is not an array
        raise TypeError(f"{what} is a {type(value).__name__} that is not an array ({exc})") from None
    if a.dtype.kind == "c":
        raise TypeError(f"{what} is complex ({a.dtype})")
    if a.dtype.kind not in "fiu":
        try:                                # bfloat16 and the other ml_dtypes floats are fine
            if a.dtype.kind != "V":
                raise TypeError
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{what} is an array of {a.dtype}, not of real numbers") from None
    return a


def checked_output(adapter: str, loss: str, out: Any, wrt: tuple[str, ...]) -> Output:
    """``out`` when it is an Output of real arrays with a gradient for each of ``wrt``."""
    try:
        if not isinstance(out, Output):
            raise TypeError(f"it returned {type(out).__name__}, not adapters.base.Output(value, grads)")
        _real_array("the value", out.value)
        if not isinstance(out.grads, Mapping):
            raise TypeError(f"its grads are a {type(out.grads).__name__}, not a dict of argument -> array")
        for name in wrt:
            if name not in out.grads:
                raise TypeError(f"it returned no gradient for {name!r} (asked for {', '.join(wrt)})")
            _real_array(f"the gradient of {name!r}", out.grads[name])
    except TypeError as exc:
        raise AdapterContractError(f"adapter {adapter!r} broke the protocol on {loss}: {exc}") from None
    return out


_MODULE_ALIASES = {"tf": "tensorflow"}


_API_NAME = re.compile(r"(?<![\w./])(?:optax|torch|tf|tensorflow|keras|jax)(?:\.[A-Za-z_]\w*)+")


@functools.cache
def missing_api(api: str) -> str | None:
    """Why a native recipe's ``api`` names a function (``optax.losses.dice_loss``,
    also inside a longer description) that does not exist in the installed
    version, or None when every named function exists. An older framework
    without the function is ``unsupported`` with this reason, not a refusal of
    valid input."""
    for name in dict.fromkeys(_API_NAME.findall(api)):
        reason = _missing(name)
        if reason:
            return reason
    return None


def _missing(name: str) -> str | None:
    parts = name.split(".")
    try:
        with filtered_stderr():              # often the framework's first import in a worker
            obj = importlib.import_module(_MODULE_ALIASES.get(parts[0], parts[0]))
    except ImportError:
        return None                        # the framework itself: unavailable() says why
    version = getattr(obj, "__version__", "?")
    for i, part in enumerate(parts[1:], 1):
        if not hasattr(obj, part):
            try:
                importlib.import_module(".".join([obj.__name__, part]))
            except ImportError:
                return f"{'.'.join(parts[:i + 1])} does not exist in {parts[0]} {version}"
        obj = getattr(obj, part)
    return None


def is_probability_target(arrays_or_case) -> bool:
    """A floating target of the input's shape holds class probabilities (torch's rule).

    Works on NumPy, framework and traced arrays; bfloat16 is not an np.floating
    subtype, so "not integer" is the test."""
    arrays = arrays_or_case.arrays if isinstance(arrays_or_case, Case) else arrays_or_case
    t, x = arrays["target"], arrays["input"]
    return not np.issubdtype(t.dtype, np.integer) and tuple(t.shape) == tuple(x.shape)


def require_same_shapes(*arrays: Any) -> None:
    """Refuse arguments of different shapes, as the mathematics does (composed recipes
    must not let NumPy-style broadcasting pair a (3, 1) input with a (3,) target).
    Works on NumPy, torch, TF and (traced) JAX arrays."""
    shapes = [tuple(a.shape) for a in arrays]
    if len(set(shapes)) > 1:
        raise ValueError(f"shapes differ: {', '.join(map(str, shapes))}")
