"""The one interface every multi-exit model implements.

A multi-exit model is an input stem, a sequence of backbone *segments* and one classifier *head*
per exit. Segment k runs after segment k-1; head k reads the state after segment k. Training runs
everything; inference may stop after any segment (see `eenet.runtime`).

The state that flows between segments is a tensor or a dict of tensors whose first dimension is
the batch, so that a batch can be shrunk (samples that exit leave) with `select_batch`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.utils.data
from torch import nn

from eenet.errors import ArtifactError, ConfigError, EENetError

State = Any  # torch.Tensor | dict[str, torch.Tensor]

# Most parameters a model's size options may give it: 2**30, 4 GiB as float32, and training
# holds four such copies (weights, gradients, AdamW's two moments), 16 GiB. The presets hold
# far fewer (ResNet-56/3 0.94M, DenseNet-121/4 1.2M, BERT-base 110M; BERT-large 335M); a width
# of 10**9 asked torch for 192 GB at once, a traceback.
MAX_WEIGHTS = 2**30
# Most bytes of example inputs made at once (the latency profile's batch): 1 GiB, ~87k CIFAR
# images or BERT inputs of 512 tokens; a profile.batch_size of 10**9 asked torch for 160 GB.
MAX_EXAMPLE_BYTES = 2**30


def check_counts(
    param: str, values: Any, length: int | None = None, like: str = ""
) -> tuple[int, ...]:
    """Model options that count things (widths, blocks, layers per exit): integers >= 1, one per
    exit (`length` of them when given, as many as the option `like`; at least one); a one-line
    ConfigError otherwise."""
    items = list(values) if isinstance(values, Sequence) and not isinstance(values, str) else []
    valid = bool(items) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items
    )
    if not valid or (length is not None and len(items) != length):
        count = f"{length} integers >= 1" if length else "integers >= 1"
        count += f" (as many as {like})" if like else ""
        raise ConfigError(f"model.options.{param}: expected {count}, one per exit, got {values!r}")
    return tuple(items)


# set while a model is built on the meta device only to check its options (check_params): the
# weight limit applies as if it were built for real
_LIMIT_ON_META: ContextVar[bool] = ContextVar("limit_weights_on_meta", default=False)


@contextmanager
def checking_options() -> Iterator[None]:
    """Build models on the meta device (no memory, no initialisation) with every check of their
    options, the weight limit included, as `eenet.config.check_model_build` does."""
    token = _LIMIT_ON_META.set(True)
    try:
        with torch.device("meta"):
            yield
    finally:
        _LIMIT_ON_META.reset(token)


def check_weight_count(sizes: str, weights: int) -> None:
    """A model whose size options (`sizes`, e.g. "widths [8, 16, 64] and blocks [1, 1, 2]") give
    it `weights` parameters may have at most MAX_WEIGHTS; else a one-line ConfigError naming
    them, before anything is built. One built on the meta device holds no memory (`eenet
    models` counts that way): any size passes, unless built under `checking_options`."""
    on_meta = torch.get_default_device().type == "meta" and not _LIMIT_ON_META.get()
    if weights > MAX_WEIGHTS and not on_meta:
        gib = weights / 2**28 if weights < 10**300 else math.inf  # float32: 2**28 a GiB
        raise ConfigError(f"model.options: {sizes} give the model {_count(weights)} parameters "
                          f"({_count(gib)} GiB as float32); allowed: at most {MAX_WEIGHTS} "
                          f"({MAX_WEIGHTS // 2**28} GiB)")


def _count(number: float) -> str:
    """`number` in 3 significant digits (past 1e300 only that)."""
    return f"{number:.3g}" if number < 1e300 else "over 1e300"


def select_batch(state: State, index: torch.Tensor) -> State:
    """Keep the samples `index` (first dimension) of a state or a batch of inputs."""
    if isinstance(state, torch.Tensor):
        return state[index]
    if isinstance(state, dict):
        return {key: select_batch(value, index) for key, value in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(select_batch(value, index) for value in state)
    raise TypeError(f"cannot index a state of type {type(state).__name__}")


def batch_size_of(state: State) -> int:
    """The batch dimension of a state or a batch of inputs."""
    if isinstance(state, torch.Tensor):
        return int(state.shape[0])
    if isinstance(state, dict):
        return batch_size_of(next(iter(state.values())))
    if isinstance(state, (tuple, list)):
        return batch_size_of(state[0])
    raise TypeError(f"cannot size a state of type {type(state).__name__}")


class MultiExitModel(nn.Module):
    """Base class: subclasses fill `stem`, `segments` and `heads` (one head per segment)."""

    # the builder options that set the shape of the inputs (resnet1d_3: input_length): what a
    # shape error suggests; none for a model made for one input shape (the CIFAR CNNs)
    input_options: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.stem: nn.Module = nn.Identity()
        self.segments = nn.ModuleList()
        self.heads = nn.ModuleList()

    def input_options_for(self, sample_shape: Sequence[int]) -> dict[str, Any]:
        """The values of `input_options` under which the model takes samples shaped
        `sample_shape` (resnet1d_3 for [1, 72]: {'input_length': 72}), for a shape error to
        name; {} where the model does not say (or no option gives that shape)."""
        return {}

    @property
    def n_exits(self) -> int:
        """Exits (one head each)."""
        return len(self.heads)

    def begin(self, inputs: Any) -> State:
        """Turn a batch of inputs into the state that segment 0 reads."""
        return self.stem(inputs)

    def run_segment(self, k: int, state: State) -> State:
        """Advance the state through backbone segment k."""
        return self.segments[k](state)

    def run_head(self, k: int, state: State) -> torch.Tensor:
        """Logits of exit k, [batch, n_classes], from the state after segment k."""
        return self.heads[k](state)

    def forward(self, inputs: Any, up_to: int | None = None) -> list[torch.Tensor]:
        """Logits of exits 0..up_to (all exits by default), one [batch, n_classes] each."""
        last = self.n_exits - 1 if up_to is None else up_to
        state = self.begin(inputs)
        logits = []
        for k in range(last + 1):
            state = self.run_segment(k, state)
            logits.append(self.run_head(k, state))
        return logits

    def collate(self, items: list[Any]) -> Any:
        """Batch a list of single inputs; text models tokenise here."""
        return self.collate_function()(items)

    def collate_function(self) -> Callable[[list[Any]], Any]:
        """What `collate` does, as a callable that holds no model: DataLoader workers started
        by spawn or forkserver receive it pickled."""
        return torch.utils.data.default_collate

    def example_inputs(self, batch_size: int) -> Any:
        """A batch of valid dummy inputs (used by profiling)."""
        raise NotImplementedError(
            f"{type(self).__name__}.example_inputs(batch_size): not implemented; implement it "
            "to return a batch of dummy inputs, or pass inputs=<a batch> to "
            "eenet.profiling.profile_model")

    def segment_parameter_counts(self) -> dict[str, Any]:
        """Parameter counts: total, backbone (stem + segments + last head) and early heads."""

        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters())

        heads = [count(h) for h in self.heads]
        return {
            "total": count(self),
            "backbone": count(self.stem) + sum(count(s) for s in self.segments) + heads[-1],
            "exit_heads": heads[:-1],
        }


def weights_dtype(model: nn.Module) -> torch.dtype | None:
    """The floating dtype the model's weights compute in (float32, or half / double for a
    model made so); None for a model without floating weights."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def example_batch(model: MultiExitModel, batch_size: int) -> Any:
    """The model's `example_inputs(batch_size)` in the precision of its weights: floating
    tensors (alone, or in a dict / list / tuple) cast to it, others (token ids) kept. A model
    made double or half precision takes inputs of that precision (the runtime refuses any
    other); its example inputs are float32 whatever its weights."""
    return _in_precision(model, model.example_inputs(batch_size))


def _in_precision(model: nn.Module, inputs: Any) -> Any:
    """`inputs` with its floating tensors in the precision of the model's weights."""
    dtype = weights_dtype(model)
    return inputs if dtype is None else _floats_as(inputs, dtype)


def _floats_as(inputs: Any, dtype: torch.dtype) -> Any:
    """`inputs` with its floating tensors cast to `dtype` (the same objects where they are)."""
    return map_tensors(inputs, lambda t: t.to(dtype) if t.is_floating_point() else t)


def map_tensors(inputs: Any, change: Callable[[torch.Tensor], Any]) -> Any:
    """`inputs` with `change` applied to each tensor: a tensor, or the tensors in a dict /
    list / tuple (nested), anything else kept as it is."""
    if isinstance(inputs, torch.Tensor):
        return change(inputs)
    if isinstance(inputs, dict):
        return {key: map_tensors(value, change) for key, value in inputs.items()}
    if isinstance(inputs, list | tuple):
        return type(inputs)(map_tensors(value, change) for value in inputs)
    return inputs


def check_model(model: Any, param: str = "model") -> None:
    """`model` is a MultiExitModel with one head per segment (else a one-line ConfigError
    naming `param`): a segment without its head never ran, and a head past the segments
    failed at an index. A model with its own `run_segment` may have fewer segments than
    heads (one block shared by every exit, say), never more (the last would never run)."""
    if not isinstance(model, MultiExitModel):
        raise ConfigError(f"{param}: expected a multi-exit model (eenet.models), got "
                          f"{type(model).__name__}")
    segments, heads = len(model.segments), len(model.heads)
    own_steps = type(model).run_segment is not MultiExitModel.run_segment
    if segments > heads or (segments < heads and not own_steps):
        raise ConfigError(f"{param}: {type(model).__name__} has {segments} segment(s) and "
                          f"{heads} head(s); allowed: one head per segment")


def check_input_shape(model: MultiExitModel, input_shape: Sequence[int] | None,
                      source: str) -> None:
    """A model taking tensors must take samples of the data's shape (`input_shape`, from
    `source`): its example inputs are what the latency profile times, so a mismatch that
    still trains (a length-agnostic network) would profile other inputs. One-line ConfigError;
    models taking texts, or data without a recorded shape, pass. The shapes are compared on
    the meta device first, so a mismatch allocates nothing (an input_length of 10**12 asked
    torch for 4 TB); then the example is made as before (the same random draws)."""
    if input_shape is not None:
        _check_sample(_meta_example(model), input_shape, source, model)
    example = model.example_inputs(1)
    if input_shape is not None:
        _check_sample(example, input_shape, source, model)


def input_sample_shape(model: MultiExitModel) -> tuple[int, ...] | None:
    """The shape of one input sample the model takes (its example input's without the batch
    axis, read on the meta device where the model allows: nothing allocated), or None for a
    model whose inputs are no tensor (texts, tokenised in its `collate`)."""
    spec = input_sample_spec(model)
    return None if spec is None else spec[0]


def input_sample_spec(model: MultiExitModel) -> tuple[tuple[int, ...], torch.dtype] | None:
    """The shape of one input sample the model takes and its dtype (its example input's), or
    None for a model whose inputs are no tensor (texts, tokenised in its `collate`)."""
    example = _meta_example(model)
    if example is None:
        example = model.example_inputs(1)
    if not isinstance(example, torch.Tensor):
        return None
    return tuple(int(d) for d in example.shape[1:]), example.dtype


def sample_misfit(shape: Sequence[int], wanted: Sequence[int], model_name: str = "the model",
                  also: str = "") -> str:
    """The error text for samples of `shape` given to a model (`model_name`) taking `wanted`
    (`also`: another form the caller takes, said after it)."""
    return (f"samples of shape {tuple(int(d) for d in shape)} do not fit {model_name} "
            f"(expects {tuple(wanted)}{also})")


def check_data_fits(model: MultiExitModel, dataset: torch.utils.data.Dataset, where: str,
                    model_name: str = "the model", registered: str | None = None) -> None:
    """A data set's samples are what the model takes: texts, or tensors shaped as its example
    inputs (the first sample checked, once: a prepared split's are all alike). A network that
    pools over any length would otherwise run, silently, on inputs it was not built for. A
    one-line ArtifactError naming `where` (the data) and `model_name`; models taking texts
    (BERT) only check that the data holds texts. Given the model's `registered` name (from
    params.yaml's model.name), data of the other kind is a ConfigError naming model.name and
    the models that take it."""
    if not len(dataset):
        return
    wanted = input_sample_shape(model)
    takes_texts = wanted is None
    sample = dataset[0][0]
    if isinstance(sample, str) != takes_texts:
        raise _kind_misfit(where, takes_texts, model_name, registered)
    if not takes_texts and tuple(sample.shape) != wanted:
        raise ArtifactError(f"{where}: {sample_misfit(sample.shape, wanted, model_name)}")


def _kind_misfit(where: str, takes_texts: bool, model_name: str,
                 registered: str | None) -> EENetError:
    """The error for data of the other kind (texts, tensors) than the model takes: naming
    model.name and the registered models taking the data's kind, given the `registered`
    name."""
    takes, holds = ("texts", "tensors") if takes_texts else ("tensors", "texts")
    if registered is None:
        return ArtifactError(f"{where} holds {holds}; {model_name} takes {takes}")
    from eenet.models import models_taking

    others = ", ".join(models_taking(not takes_texts)) or "none registered"
    return ConfigError(f"model.name: {registered} takes {takes} but {where} holds {holds}; "
                       f"models taking {holds}: {others}")


def _meta_example(model: MultiExitModel) -> Any:
    """The model's example inputs of one sample on the meta device: shapes, no memory or
    random draws (None where its `example_inputs` cannot run there)."""
    try:
        with torch.device("meta"):
            return model.example_inputs(1)
    except Exception:  # noqa: BLE001 - a model's own code: then only the real example is checked
        return None


def check_example_batch(model: MultiExitModel, batch_size: int, param: str) -> None:
    """`batch_size` samples of the model's example inputs may take at most MAX_EXAMPLE_BYTES
    (one sample measured on the meta device, nothing allocated); else a one-line ConfigError
    naming `param` and the most samples allowed. They are counted in the precision of the
    model's weights, as `example_batch` makes them (a double model's take twice float32's)."""
    per_sample = _nbytes(_in_precision(model, _meta_example(model)))
    if per_sample and batch_size * per_sample > MAX_EXAMPLE_BYTES:
        gib = batch_size * per_sample / 2**30 if batch_size < 10**300 else math.inf
        raise ConfigError(f"{param}: {batch_size} samples of the model's example inputs "
                          f"({per_sample} bytes each) would take {_count(gib)} GiB; allowed: "
                          f"at most {MAX_EXAMPLE_BYTES // per_sample} samples "
                          f"({MAX_EXAMPLE_BYTES // 2**30} GiB)")


def _nbytes(inputs: Any) -> int:
    """Bytes of a tensor, or of the tensors in a dict / list / tuple (0 for anything else)."""
    if isinstance(inputs, torch.Tensor):
        return inputs.numel() * inputs.element_size()
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    return sum(_nbytes(item) for item in inputs) if isinstance(inputs, list | tuple) else 0


def _check_sample(example: Any, input_shape: Sequence[int], source: str,
                  model: MultiExitModel) -> None:
    """A one-line ConfigError when `example` (`model`'s) is a tensor whose samples are not
    shaped `input_shape` (from `source`), suggesting the model's input options where it has
    any (with the values that fit the data, where the model gives them), else another model."""
    if not isinstance(example, torch.Tensor):
        return
    options = model.input_options
    takes = [int(d) for d in example.shape[1:]]
    # an image model on sequences (or the reverse), or a model of one input shape
    if len(takes) != len(input_shape) or (takes != list(input_shape) and not options):
        raise ConfigError(
            f"model.name: the model takes samples shaped {takes} but {source} holds samples "
            f"shaped {list(input_shape)}, which no option of it changes; choose a model made "
            "for this data (`eenet models` lists them)"
        )
    if takes != [int(d) for d in input_shape]:
        fitting = model.input_options_for(input_shape)
        if fitting:  # the values themselves (the 1-D ResNet: its input_length)
            advice = "set " + ", ".join(f"model.options.{name}: {value}"
                                        for name, value in fitting.items()) + " to match"
        else:
            names = " / ".join(f"model.options.{name}" for name in options)
            advice = f"set the model's input options to match ({names})"
        raise ConfigError(
            f"model.options: the model's inputs are shaped {takes} but {source} holds samples "
            f"shaped {list(input_shape)}; {advice}"
        )
