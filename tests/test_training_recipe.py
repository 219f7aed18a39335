"""The authors' training recipe: weighted exit losses and late self-distillation."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from eenet import batching, resume, train_config, training
from eenet.checkpoint import load_checkpoint, save_checkpoint
from eenet.data import prepare_dataset
from eenet.data.prepared import PreparedDataset, write_meta, write_split
from eenet.errors import ArtifactError, ConfigError, EENetError
from eenet.losses import exit_losses, exit_weighted_ce, multi_exit_loss
from eenet.models import build_model
from eenet.models.artifact import load_trained, save_trained
from eenet.train_config import TrainConfig, distill_weight_for_epoch
from tests.runtime_helpers import TinyNet


def random_logits(n_exits: int, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = [torch.randn(8, 5, generator=gen) * 3 for _ in range(n_exits)]
    return logits, torch.randint(0, 5, (8,), generator=gen)


def by_hand(logits: list[torch.Tensor], labels: torch.Tensor, weight: float, t: float):
    """sum_k (k+1) CE_k / (K(K+1)) + weight * T^2 * mean_k<K-1 KL(p_last^T || p_k^T)."""
    n = len(logits)
    ce = [-z.log_softmax(-1)[torch.arange(len(labels)), labels].mean() for z in logits]
    loss = sum((k + 1) * ce[k] for k in range(n)) / (n * (n + 1))
    teacher = (logits[-1] / t).softmax(-1)
    kl = [
        (teacher * (teacher.log() - (z / t).log_softmax(-1))).sum(-1).mean() for z in logits[:-1]
    ]
    return loss + weight * t**2 * sum(kl) / (n - 1)


@pytest.mark.parametrize("n_exits", [2, 3, 4])
@pytest.mark.parametrize("weight", [0.0, 0.01, 0.5])
def test_multi_exit_loss_matches_a_hand_computation(n_exits, weight):
    logits, labels = random_logits(n_exits, seed=n_exits)
    expected = by_hand(logits, labels, weight, 3.0)
    got = multi_exit_loss(logits, labels, distill_weight=weight, temperature=3.0)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def label_logits(label_logit: float, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Logits of 0 but `label_logit` at each sample's label: every sample's cross-entropy is
    log(1 + (n_classes - 1) / exp(label_logit)), in closed form."""
    logits = torch.zeros(len(labels), n_classes, dtype=torch.float64)
    logits[torch.arange(len(labels)), labels] = label_logit
    return logits


@pytest.mark.parametrize("n_exits", [1, 2, 4, 7])
def test_exits_of_equal_cross_entropy_cost_half_of_it(n_exits):
    """The weights (k+1) / (K(K+1)) of exits k = 0..K-1 sum to 1/2 for any K: exits whose
    cross-entropy is c each make a loss of c / 2. Here c = log 2 (4 classes, the label's
    logit log 3: probability 3 / 6), each exit's logits shifted by its own constant."""
    labels = torch.tensor([0, 3, 1])
    logits = [label_logits(math.log(3), labels, 4) + k for k in range(n_exits)]
    half = math.log(2) / 2
    assert float(multi_exit_loss(logits, labels)) == pytest.approx(half, rel=1e-6)
    assert float(exit_weighted_ce(logits, labels)) == pytest.approx(half, rel=1e-6)


def test_the_exit_weighted_loss_of_known_cross_entropies():
    """Three exits, 4 classes, cross-entropies in closed form: uniform logits log 4 = 2 log 2;
    the label's logit log 3 (probability 3 / 6) log 2; log 9 (probability 9 / 12) log(4 / 3).
    Weighted 1, 2, 3 over K(K+1) = 12: (2 log 2 + 2 log 2 + 3 log(4 / 3)) / 12
    = (10 log 2 - 3 log 3) / 12."""
    labels = torch.tensor([2, 0])
    logits = [torch.zeros(2, 4, dtype=torch.float64), label_logits(math.log(3), labels, 4),
              label_logits(math.log(9), labels, 4)]
    expected = (10 * math.log(2) - 3 * math.log(3)) / 12
    assert float(exit_weighted_ce(logits, labels)) == pytest.approx(expected, rel=1e-6)
    loss, ce = exit_losses(logits, labels)
    assert float(loss) == float(ce) == pytest.approx(expected, rel=1e-6)


def test_distillation_does_not_train_the_teacher():
    logits, labels = random_logits(4, seed=7)
    logits = [z.requires_grad_() for z in logits]
    extra = multi_exit_loss(logits, labels, 0.01, 3.0) - multi_exit_loss(logits, labels, 0.0)
    grads = torch.autograd.grad(extra, logits)
    assert float(grads[-1].abs().max()) == 0.0
    assert all(float(g.abs().max()) > 0 for g in grads[:-1])


@pytest.mark.parametrize("epochs", [1, 2, 3, 8, 150])
def test_distillation_runs_in_the_last_quarter_of_epochs(epochs):
    cfg = TrainConfig(epochs=epochs, distill_weight=0.01, distill_from=0.75)
    first = math.floor(0.75 * epochs)
    weights = [distill_weight_for_epoch(cfg, e) for e in range(epochs)]
    assert weights == [0.0] * first + [0.01] * (epochs - first)
    assert weights[-1] == 0.01  # the last epoch always distils


def test_train_model_uses_the_weight_of_each_epoch(tmp_path, monkeypatch, one_thread):
    """Record the distillation weight every training step gets, epoch by epoch."""
    prepare_dataset("mnist1d", tmp_path / "data", 0, num_samples=300)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=4, batch_size=64, threads=1, device="cpu", schedule="constant")
    per_epoch: list[set[float]] = [set()]

    def recording_loss(logits, labels, distill_weight=0.0, temperature=3.0):
        per_epoch[-1].add(distill_weight)
        assert temperature == cfg.distill_temperature
        return exit_losses(logits, labels, distill_weight, temperature)

    monkeypatch.setattr(training, "exit_losses", recording_loss)
    training.train_model(
        model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
        on_epoch=lambda epoch, values: per_epoch.append(set()), progress=False,
    )
    assert per_epoch[:-1] == [{0.0}, {0.0}, {0.0}, {cfg.distill_weight}]


def test_a_batch_larger_than_the_training_split_is_a_one_line_error(tmp_path):
    """Training drops the last incomplete batch: a batch larger than the split trained nothing,
    logged a training loss of 0.0 and saved the untrained model as if trained."""
    write_waves(tmp_path / "data", n_train=50, n_val=20)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=1, batch_size=64, threads=1, device="cpu")
    with pytest.raises(ConfigError) as err:
        training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                             progress=False)
    assert str(err.value) == ("train.batch_size: 64 is more than the 50 training samples, so "
                              "no batch would be trained; use at most 50")
    assert not (tmp_path / "ckpt").exists()
    cfg.batch_size = 50  # one full batch is enough
    summary = training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                                   progress=False)
    assert summary["epochs"] == 1


def test_a_segment_without_its_head_is_refused_before_training(tmp_path):
    """A model of one's own with 3 segments and 2 heads trained and ran only 2 segments."""
    write_waves(tmp_path / "data", n_train=50, n_val=20)
    model = TinyNet()
    del model.heads[-1]
    cfg = TrainConfig(epochs=1, batch_size=50, threads=1, device="cpu")
    with pytest.raises(ConfigError) as err:
        training.train_model(model, PreparedDataset(tmp_path / "data", "train"),
                             PreparedDataset(tmp_path / "data", "val"), cfg, tmp_path / "ckpt",
                             "fp", progress=False)
    assert str(err.value) == ("model: TinyNet has 3 segment(s) and 2 head(s); allowed: one "
                              "head per segment")
    assert not (tmp_path / "ckpt").exists()


def test_training_that_diverges_stops_in_one_line_before_saving_the_epoch(tmp_path):
    """A learning rate far too high made the weights NaN: training went on, saved the model
    as delivered (dump_logits refused it a stage later), and a rerun reused the run."""
    write_waves(tmp_path / "data", n_train=100, n_val=20)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=2, batch_size=10, optimizer="sgd", lr=1e6, schedule="constant",
                      threads=1, device="cpu")
    with pytest.raises(ConfigError, match=r"^train: training diverged in epoch 1/2 \(train "
                                          r"loss \S+; weight \S+ is NaN or infinite\); lower "
                                          r"train\.lr$"):
        training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                             progress=False)
    assert not (tmp_path / "ckpt" / "last.pt").exists()


def test_loader_workers_past_the_cap_are_a_one_line_error(tmp_path):
    """train.num_workers 10**9 made the DataLoader fork worker processes until the system's
    process limit, then hang: at most WORKERS_MAX, named before any worker starts, from
    params.yaml (TrainConfig.from_params) and from code (train_model)."""
    write_waves(tmp_path / "data", n_train=50, n_val=20)
    message = "train.num_workers: must be an integer from 0 to 1024, got 1000000000"
    with pytest.raises(ConfigError, match=f"^{message}$"):
        TrainConfig.from_params({"num_workers": 10**9})
    cfg = TrainConfig(epochs=1, batch_size=50, threads=1, device="cpu", num_workers=10**9)
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    with pytest.raises(ConfigError, match=f"^{message}$"):
        training.train_model(model, PreparedDataset(tmp_path / "data", "train"),
                             PreparedDataset(tmp_path / "data", "val"), cfg, tmp_path / "ckpt",
                             "fp", progress=False)
    assert not (tmp_path / "ckpt").exists()


def test_a_batch_that_leaves_much_of_the_split_out_of_each_epoch_is_noted(tmp_path, capsys):
    """Training drops the last incomplete batch: a batch of 40 on 70 samples trained 40 an
    epoch without a word. A note says how many are left out; a few left over say nothing."""
    write_waves(tmp_path / "data", n_train=70, n_val=20)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=1, batch_size=40, threads=1, device="cpu")
    training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp", progress=False)
    assert capsys.readouterr().err.splitlines() == [
        "note: train.batch_size 40 leaves 30 of the 70 training samples out of every epoch "
        "(only whole batches are trained; another shuffle each epoch); a batch size that "
        "divides 70, or one much smaller, trains on all of them"]
    assert training.dropped_samples_note(70, 35) is None  # none left out
    assert training.dropped_samples_note(70, 16) is None  # 6 of 70: under a tenth
    assert training.dropped_samples_note(70, 12).startswith("note: train.batch_size 12 leaves 10 ")


BAD_TRAIN_VALUES = {
    "optimizer": ("rmsprop", "train.optimizer: unknown value 'rmsprop'; allowed: adam, adamw, sgd"),
    "schedule": ("cosine", "train.schedule: unknown value 'cosine'; allowed: constant, linear, "
                           "multistep, onecycle"),
    "epochs": (0, "train.epochs: must be an integer >= 1, got 0"),
    "lr": (-0.01, "train.lr: must be a finite number > 0, got -0.01"),
}


@pytest.mark.parametrize("entry", ["train_model", "train_to_artifact"])
@pytest.mark.parametrize("key", list(BAD_TRAIN_VALUES))
def test_the_python_api_checks_the_train_config_as_params_yaml_does(tmp_path, key, entry):
    """params.yaml's check refused these, but a TrainConfig made in code trained anyway:
    optimizer "rmsprop" with AdamW, schedule "cosine" at a constant learning rate, epochs 0 and
    lr -0.01 failed in torch. Now both entry points give params.yaml's one-line ConfigError,
    before any checkpoint is written."""
    from eenet.config import validate_params
    from eenet.training_run import train_to_artifact

    value, message = BAD_TRAIN_VALUES[key]
    with pytest.raises(ConfigError) as from_yaml:
        validate_params({"train": {key: value}})
    assert str(from_yaml.value) == message  # what params.yaml's check says
    write_waves(tmp_path / "data", n_train=64, n_val=16)
    cfg = TrainConfig(**{"epochs": 1, "batch_size": 32, "threads": 1, "device": "cpu",
                         key: value})
    options = {"widths": [4, 4, 4], "blocks": [1, 1, 1]}
    with pytest.raises(ConfigError) as err:
        if entry == "train_model":
            training.train_model(build_model("resnet1d_3", 10, **options),
                                 PreparedDataset(tmp_path / "data", "train"),
                                 PreparedDataset(tmp_path / "data", "val"), cfg,
                                 tmp_path / "ckpt", "fp", progress=False)
        else:
            train_to_artifact(tmp_path / "data", tmp_path / "model", tmp_path / "ckpt",
                              tmp_path / "live", {"name": "resnet1d_3", "options": options}, cfg)
    assert str(err.value) == message
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("entry", ["train_model", "train_to_artifact"])
def test_a_dict_for_the_train_config_is_one_line_naming_trainconfig(tmp_path, entry):
    """A dict of train settings failed with "'dict' object has no attribute 'check'"."""
    from eenet.training_run import train_to_artifact

    options = {"widths": [4, 4, 4], "blocks": [1, 1, 1]}
    with pytest.raises(ConfigError) as err:
        if entry == "train_model":
            training.train_model(build_model("resnet1d_3", 10, **options), [], [],
                                 {"epochs": 2}, tmp_path / "ckpt", "fp", progress=False)
        else:
            train_to_artifact(tmp_path / "data", tmp_path / "model", tmp_path / "ckpt",
                              tmp_path / "live", {"name": "resnet1d_3", "options": options},
                              {"epochs": 2})
    param = "cfg" if entry == "train_model" else "train_cfg"
    assert str(err.value) == (f"{param}: expected a TrainConfig (eenet.train_config; "
                              "TrainConfig.from_params(d) makes one of a dict d), got dict")
    assert not (tmp_path / "ckpt").exists()


def test_a_failed_model_save_keeps_the_old_training_log(tmp_path, monkeypatch):
    """The training log (dvclive's files, exit_accuracy.csv) was swapped in as the last epoch
    ended, before the model was written: a model save that failed (a full disk; a stop signal
    there) left the new run's curves beside the old model. Now the log is swapped in after the
    model, and such a failure leaves both as they were."""
    import eenet.models.artifact
    from eenet.training_run import train_to_artifact

    write_waves(tmp_path / "data", n_train=64, n_val=16)
    model_params = {"name": "resnet1d_3", "options": {"widths": [4, 4, 4], "blocks": [1, 1, 1]}}

    def train(epochs: int) -> None:
        cfg = TrainConfig(epochs=epochs, batch_size=32, threads=1, device="cpu")
        train_to_artifact(tmp_path / "data", tmp_path / "model", tmp_path / "ckpt",
                          tmp_path / "live", model_params, cfg)

    def outputs() -> dict[str, bytes]:
        return {str(p.relative_to(tmp_path)): p.read_bytes()
                for folder in ("model", "live") for p in (tmp_path / folder).rglob("*")
                if p.is_file()}

    train(1)
    before = outputs()
    assert "live/exit_accuracy.csv" in before

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(eenet.models.artifact, "save_file", disk_full)
    with pytest.raises(OSError, match="simulated"):
        train(2)
    assert outputs() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("key", ["optimizer", "schedule"])
def test_an_unknown_optimizer_or_schedule_is_refused_not_replaced(key):
    """_optimizer fell through to AdamW and _scheduler to a constant learning rate for any
    name they did not know (defence in depth: train_model checks the config first)."""
    value, message = BAD_TRAIN_VALUES[key]
    model = torch.nn.Linear(2, 2)
    cfg = TrainConfig(**{key: value})
    with pytest.raises(ConfigError) as err:
        optimizer = train_config.make_optimizer(model, cfg)
        train_config.make_lr_schedule(optimizer, cfg, 10)
    assert str(err.value) == message
    good = train_config.make_optimizer(model, TrainConfig())
    for name in train_config.SCHEDULES:  # every allowed name still builds
        train_config.make_lr_schedule(good, TrainConfig(schedule=name), 10)


def _momenta(cfg: TrainConfig, steps: int) -> list[float]:
    """The momentum (SGD) or beta1 (Adam, AdamW) of each of `steps` steps of `cfg`'s
    schedule."""
    optimizer = train_config.make_optimizer(torch.nn.Linear(2, 2), cfg)
    schedule = train_config.make_lr_schedule(optimizer, cfg, steps)
    seen = []
    for _ in range(steps):
        group = optimizer.param_groups[0]
        seen.append(group["momentum"] if "momentum" in group else group["betas"][0])
        optimizer.step()
        schedule.step()
    return seen


def test_onecycle_with_sgd_keeps_the_momentum_set():
    """torch's OneCycleLR cycled SGD's momentum 0.95 -> 0.85 -> 0.95 whatever train.momentum
    said: under onecycle the setting changed nothing. It is kept now; Adam's and AdamW's
    beta1 still cycle, as before (the default recipe's weights are unchanged)."""
    sgd = TrainConfig(epochs=1, optimizer="sgd", schedule="onecycle", momentum=0.5)
    assert _momenta(sgd, 12) == [0.5] * 12
    for name in ("adam", "adamw"):
        betas = _momenta(TrainConfig(epochs=1, optimizer=name, schedule="onecycle"), 12)
        assert betas[0] == pytest.approx(0.95) and min(betas) == pytest.approx(0.85, abs=0.01)


def test_train_momentum_changes_the_weights_trained_under_onecycle(tmp_path):
    """Two sgd + onecycle runs differing only in train.momentum trained identical weights."""
    write_waves(tmp_path / "data", n_train=96, n_val=16)
    sets = PreparedDataset(tmp_path / "data", "train"), PreparedDataset(tmp_path / "data", "val")
    weights = []
    for momentum in (0.5, 0.9):
        training.seed_everything(0)
        model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
        cfg = TrainConfig(epochs=1, batch_size=32, threads=1, device="cpu", optimizer="sgd",
                          lr=0.05, schedule="onecycle", momentum=momentum)
        training.train_model(model, *sets, cfg, tmp_path / f"ckpt{momentum}", "fp",
                             progress=False)
        weights.append(model.state_dict())
    assert any(not torch.equal(value, weights[1][name]) for name, value in weights[0].items())


class _HugeGradient(torch.autograd.Function):
    """The identity, whose backward pass asks torch for 4 PiB."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad + torch.empty(2**40, 2**10).sum()


class _BlowUpIn(TinyNet):
    """A TinyNet whose training forward pass, training backward pass or validation (eval-mode)
    pass (`mode`) asks for far more memory than any machine has, once `armed`."""

    def __init__(self, mode: str) -> None:
        super().__init__(num_classes=10)
        self.mode, self.armed = mode, False

    def begin(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        state = super().begin(inputs)
        if not self.armed or (self.mode == "validation") == self.training:
            return state
        if self.mode == "backward":
            return {**state, "h": _HugeGradient.apply(state["h"])}
        return {**state, "h": state["h"].repeat(1, 1, 2**30)}


@pytest.mark.parametrize("mode", ["forward", "backward"])
def test_a_training_batch_that_does_not_fit_in_memory_is_one_line(tmp_path, mode):
    """A training step whose forward or backward pass needs more memory than there is was a
    torch traceback; it is a one-line error naming train.batch_size, as profile.batch_size's
    is. Failing in the second epoch leaves the first epoch's checkpoint whole (no temporary
    file beside it), and a run that fits resumes from it."""
    write_waves(tmp_path / "data", n_train=50, n_val=20)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    cfg = TrainConfig(epochs=3, batch_size=10, threads=1, device="cpu")
    model = _BlowUpIn(mode)

    def arm(epoch: int, values: dict) -> None:
        model.armed = True

    with pytest.raises(ConfigError, match=r"^train\.batch_size: 10 does not fit in memory "
                                          r"\(tried to allocate \d+ bytes\); lower it$"):
        training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                             on_epoch=arm, progress=False)
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["last.pt"]
    assert load_checkpoint(tmp_path / "ckpt")["epoch"] == 0
    model.armed = False
    summary = training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                                   progress=False)
    assert summary["resumed_from_epoch"] == 1


def test_a_validation_pass_that_does_not_fit_in_memory_is_one_line(tmp_path):
    """The validation pass runs batches of a fixed size (512, or the whole split when
    smaller): torch failing to allocate there was a traceback; it is a one-line error that says
    so (no setting names that batch), before any checkpoint is written."""
    write_waves(tmp_path / "data", n_train=50, n_val=20)
    model = _BlowUpIn("validation")
    model.armed = True
    cfg = TrainConfig(epochs=1, batch_size=10, threads=1, device="cpu")
    with pytest.raises(ConfigError) as caught:
        training.train_model(model, PreparedDataset(tmp_path / "data", "train"),
                             PreparedDataset(tmp_path / "data", "val"), cfg, tmp_path / "ckpt",
                             "fp", progress=False)
    assert re.fullmatch(r"train: the validation pass \(batches of 20 samples\) does not fit in "
                        r"memory \(tried to allocate \d+ bytes\); use smaller model\.options, "
                        r"or a train\.device with more memory", str(caught.value)), caught.value
    assert not (tmp_path / "ckpt").exists()


def write_waves(root, n_train: int = 2000, n_val: int = 500, length: int = 40) -> None:
    """A learnable toy sequence set: class k is a noisy sine of frequency k + 1."""
    rng = np.random.default_rng(0)
    t = np.arange(length) / length
    for split, n in (("train", n_train), ("val", n_val)):
        labels = rng.integers(0, 10, n)
        phase = rng.uniform(0, 2 * np.pi, (n, 1))
        x = np.sin(2 * np.pi * (labels[:, None] + 1) * t + phase)
        write_split(root, split, (x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32),
                    labels)
    write_meta(root, {"dataset": "waves", "kind": "sequence", "num_classes": 10,
                      "sizes": {"train": n_train, "val": n_val}})


class Interrupted(Exception):
    """Stands in for a kill after a checkpoint was written."""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_mixed_precision_training_resumes_and_loads_on_the_cpu(tmp_path):
    """train.device cuda: autocast + GradScaler train every exit well above chance; a run
    stopped after its second epoch resumes from the checkpoint (scaler state included); the
    saved artifact loads on the CPU and predicts what the GPU model predicts."""
    write_waves(tmp_path / "data")
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    options = {"widths": [8, 16, 32], "blocks": [1, 1, 1]}
    cfg = TrainConfig(epochs=6, batch_size=64, lr=0.01, device="cuda")

    def stop_after_second(epoch: int, values: dict) -> None:
        if epoch == 1:
            raise Interrupted

    model = build_model("resnet1d_3", 10, **options)
    with pytest.raises(Interrupted):
        training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                             on_epoch=stop_after_second, progress=False)
    model = build_model("resnet1d_3", 10, **options)
    summary = training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                                   progress=False)
    assert summary["resumed_from_epoch"] == 2
    assert next(model.parameters()).is_cuda
    assert min(summary["val_accuracy"]) > 50.0, summary["val_accuracy"]  # chance: 10 %

    save_trained(model, tmp_path / "model", "resnet1d_3", 10, options)
    on_cpu = load_trained(tmp_path / "model")
    x = torch.from_numpy(np.stack([val_set[i][0].numpy() for i in range(200)]))
    with torch.inference_mode():
        gpu = torch.stack(model.eval()(x.cuda())).cpu()
        cpu = torch.stack(on_cpu(x))
    torch.testing.assert_close(cpu, gpu, rtol=1e-2, atol=1e-2)  # TF32 convolutions on GPU
    assert (cpu.argmax(-1) == gpu.argmax(-1)).float().mean() > 0.99


def test_a_cpu_run_resumes_where_the_loss_scaler_is_on(tmp_path, monkeypatch):
    """train.device auto: a run interrupted where no GPU was seen (its loss scaler off, its
    state empty) and restarted where one is (the scaler on) stopped with "not a training
    checkpoint (its scaler state does not load ...)". It resumes now, the scaler starting
    afresh (here a CPU scaler turned on stands in for the GPU's)."""
    write_waves(tmp_path / "data", n_train=96, n_val=16)
    sets = PreparedDataset(tmp_path / "data", "train"), PreparedDataset(tmp_path / "data", "val")
    cfg = TrainConfig(epochs=2, batch_size=32, threads=1, device="cpu")

    def stop(epoch: int, values: dict) -> None:
        raise Interrupted

    def build():
        return build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])

    with pytest.raises(Interrupted):
        training.train_model(build(), *sets, cfg, tmp_path / "ckpt", "fp", on_epoch=stop,
                             progress=False)
    assert load_checkpoint(tmp_path / "ckpt")["scaler"] == {}
    real = torch.amp.GradScaler
    scalers = []

    def scaler_on(device: str, enabled: bool = True) -> torch.amp.GradScaler:
        scalers.append(real("cpu", enabled=True))
        return scalers[-1]

    monkeypatch.setattr(torch.amp, "GradScaler", scaler_on)
    summary = training.train_model(build(), *sets, cfg, tmp_path / "ckpt", "fp",
                                   progress=False)
    assert summary["resumed_from_epoch"] == 1
    assert scalers[0].is_enabled() and load_checkpoint(tmp_path / "ckpt")["scaler"] != {}


class CountingLoader(batching.BatchLoader):
    """The training DataLoader, counting the iterators made from it."""

    iterators = 0

    def __iter__(self):
        type(self).iterators += 1
        return super().__iter__()


def test_an_epoch_makes_one_loader_iterator(tmp_path, monkeypatch):
    """tqdm.auto's class called iter() on the loader when wrapping it, then again to loop: each
    epoch started its DataLoader workers twice (the first ones only prefetched, for nothing) and
    drew the shuffle from another generator state, so num_workers changed the trained weights.
    Validation reads its batches without a DataLoader (`batching.split_batches`)."""
    write_waves(tmp_path / "data", n_train=64, n_val=16)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    monkeypatch.setattr(batching, "BatchLoader", CountingLoader)
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=2, batch_size=32, threads=1, device="cpu")
    training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp", progress=False)
    assert CountingLoader.iterators == 2  # one training pass per epoch


def _weights_by_workers(tmp_path, train_set, val_set, build, workers: int, **cfg) -> dict:
    """The weights `build()` trains to, loading with `workers` loader processes."""
    training.seed_everything(0)
    model = build()
    config = TrainConfig(threads=1, device="cpu", num_workers=workers, **cfg)
    training.train_model(model, train_set, val_set, config, tmp_path / f"ckpt{workers}", "fp",
                         progress=False)
    return model.state_dict()


def _assert_same_weights(first: dict, second: dict) -> None:
    for name, value in first.items():
        assert torch.equal(value, second[name]), name


def test_num_workers_does_not_change_the_trained_weights(tmp_path):
    """Without augmentation, loading in worker processes gives the same batches in the same
    order, so the same weights as loading in the main process."""
    write_waves(tmp_path / "data", n_train=96, n_val=16)
    sets = PreparedDataset(tmp_path / "data", "train"), PreparedDataset(tmp_path / "data", "val")
    weights = [_weights_by_workers(
        tmp_path, *sets, lambda: build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1]),
        workers, epochs=1, batch_size=32) for workers in (0, 1)]
    _assert_same_weights(*weights)


def test_more_loader_workers_than_cpus_is_one_line(tmp_path, monkeypatch, capfd):
    """train.num_workers above the CPUs here: one note naming the setting, instead of torch's
    DataLoader paragraph ("This DataLoader will create 2 worker processes in total. Our
    suggested max number of worker ...", with its source line)."""
    import warnings

    import eenet.devices as devices

    monkeypatch.setattr(devices, "available_cpus", lambda: 1)
    monkeypatch.setattr("torch.utils.data.dataloader.os.sched_getaffinity",
                        lambda pid: {0}, raising=False)
    write_waves(tmp_path / "data", n_train=64, n_val=16)
    sets = PreparedDataset(tmp_path / "data", "train"), PreparedDataset(tmp_path / "data", "val")
    with warnings.catch_warnings(record=True) as caught:  # its filter stays in this test
        warnings.simplefilter("always")
        _weights_by_workers(tmp_path, *sets, lambda: build_model(
            "resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1]), 2, epochs=1, batch_size=32)
    assert ("note: train.num_workers 2 is more than the 1 CPU available here: the loader "
            "processes contend for them, so batches may come slower than with 1\n"
            ) in capfd.readouterr().err
    shown = [str(w.message) for w in caught]
    assert not any("This DataLoader will create" in m for m in shown), shown


def test_num_workers_does_not_change_weights_trained_with_augmentation(tmp_path):
    """CIFAR augmentation draws each sample's crop and flip from (seed, epoch, index): a
    worker process draws what the main process would, so the weights are the same."""
    from tests.preset_fixtures import write_cifar10

    root = write_cifar10(tmp_path / "raw", per_batch=16)
    prepare_dataset("cifar10", tmp_path / "data", 0, root=root, val_size=16, download=False,
                    checksums=False)
    sets = (PreparedDataset(tmp_path / "data", "train", augment=True),
            PreparedDataset(tmp_path / "data", "val"))
    weights = [_weights_by_workers(
        tmp_path, *sets, lambda: build_model("resnet56_3", 10, blocks=[1, 1, 1], base_width=4),
        workers, epochs=2, batch_size=16) for workers in (0, 2)]
    _assert_same_weights(*weights)


def test_a_checkpoint_of_another_architecture_is_not_resumed(tmp_path):
    """A run stopped, then the model's code changed (same params, so the same fingerprint):
    the checkpoint's weights no longer fit, and resuming was a load_state_dict traceback."""
    from eenet.checkpoint import load_checkpoint, save_checkpoint

    write_waves(tmp_path / "data", n_train=64, n_val=16)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    cfg = TrainConfig(epochs=2, batch_size=32, threads=1, device="cpu")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp", progress=False)
    state = load_checkpoint(tmp_path / "ckpt")
    save_checkpoint(tmp_path / "ckpt", {**state, "epoch": 0})  # as if stopped after epoch 1
    same = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    assert resume.resumable_checkpoint(tmp_path / "ckpt", "fp", 2, same) is not None
    other = build_model("resnet1d_3", 10, widths=[4, 4, 8], blocks=[1, 1, 1])
    assert resume.resumable_checkpoint(tmp_path / "ckpt", "fp", 2, other) is None
    summary = training.train_model(other, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                                   progress=False)
    assert summary["resumed_from_epoch"] is None


def _interrupted_artifact_run(tmp_path, monkeypatch, cfg: TrainConfig, folder: str = "ckpt"):
    """train_to_artifact stopped right after its first checkpoint (as by a kill); the
    checkpoint's folder."""
    from eenet.training_run import train_to_artifact

    save = training.save_checkpoint

    def save_then_stop(directory, state):
        save(directory, state)
        raise Interrupted

    monkeypatch.setattr(training, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        train_to_artifact(tmp_path / "data", tmp_path / "model", tmp_path / folder,
                          tmp_path / "live", WAVES_MODEL, cfg)
    monkeypatch.setattr(training, "save_checkpoint", save)
    assert load_checkpoint(tmp_path / folder)["epoch"] == 0
    return tmp_path / folder


WAVES_MODEL = {"name": "resnet1d_3", "options": {"widths": [4, 4, 4], "blocks": [1, 1, 1]}}


def test_a_run_restarted_with_other_loader_workers_resumes(tmp_path, monkeypatch, capsys):
    """The fingerprint hashed the whole TrainConfig: a run interrupted, then restarted with
    more loader workers (which do not change the weights) trained from epoch 1 without a word.
    Now it resumes, and ends with the weights of an uninterrupted run."""
    from eenet.training_run import train_to_artifact

    write_waves(tmp_path / "data", n_train=96, n_val=16)
    cfg = TrainConfig(epochs=3, batch_size=32, threads=1, device="cpu")
    _interrupted_artifact_run(tmp_path, monkeypatch, cfg)
    more = TrainConfig(epochs=3, batch_size=32, threads=1, device="cpu", num_workers=1)
    capsys.readouterr()
    summary = train_to_artifact(tmp_path / "data", tmp_path / "model", tmp_path / "ckpt",
                                tmp_path / "live", WAVES_MODEL, more)
    out, err = capsys.readouterr()
    assert summary["resumed_from_epoch"] == 1
    assert "resuming from epoch 1 of 3 (1 done" in out
    assert "training from the start" not in err
    train_to_artifact(tmp_path / "data", tmp_path / "fresh", tmp_path / "fresh_ckpt",
                      tmp_path / "fresh_live", WAVES_MODEL, cfg)
    _assert_same_weights(load_trained(tmp_path / "fresh").state_dict(),
                         load_trained(tmp_path / "model").state_dict())


def but_learned_nothing(err: str) -> list[str]:
    """stderr's lines but the note that the model learned nothing (3 epochs of 96 samples)."""
    return [line for line in err.splitlines() if "the model learned nothing" not in line]


def test_a_checkpoint_of_other_settings_says_so_and_trains_afresh(tmp_path, monkeypatch,
                                                                   capsys):
    """A checkpoint of other settings was dropped without a word (hours of CIFAR epochs): now
    one line on stderr names it, its epochs and the fields that differ (an older checkpoint,
    which records only its hash: "other training settings" alone), and training restarts."""
    from eenet.training_run import train_to_artifact

    write_waves(tmp_path / "data", n_train=96, n_val=16)
    cfg = TrainConfig(epochs=3, batch_size=32, threads=1, device="cpu", lr=0.003)
    ckpt = _interrupted_artifact_run(tmp_path, monkeypatch, cfg)
    other = TrainConfig(epochs=3, batch_size=32, threads=1, device="cpu", lr=0.002)
    capsys.readouterr()
    summary = train_to_artifact(tmp_path / "data", tmp_path / "model", ckpt, tmp_path / "live",
                                WAVES_MODEL, other)
    out, err = capsys.readouterr()
    assert summary["resumed_from_epoch"] is None and "resuming" not in out
    assert but_learned_nothing(err) == [
        f"checkpoint {ckpt / 'last.pt'} (1 of 3 epochs) is of other training settings "
        "(train.lr 0.003 -> 0.002); training from the start"]
    assert load_checkpoint(ckpt)["epoch"] == 2

    # a checkpoint of before the settings were recorded: its hash alone
    ckpt = _interrupted_artifact_run(tmp_path, monkeypatch, cfg, "old")
    state = load_checkpoint(ckpt)
    del state["settings"]
    save_checkpoint(ckpt, state)
    capsys.readouterr()
    train_to_artifact(tmp_path / "data", tmp_path / "model", ckpt, tmp_path / "live",
                      WAVES_MODEL, other)
    assert but_learned_nothing(capsys.readouterr().err) == [
        f"checkpoint {ckpt / 'last.pt'} (1 epoch done) is of other training settings; "
        "training from the start"]


def test_loader_workers_started_by_spawn_get_their_batches(tmp_path):
    """Workers started by spawn (macOS' and Windows' default, Linux's forkserver from Python
    3.14) receive the collate function pickled: a closure failed with "Can't pickle local
    object", so train.num_workers > 0 (the CIFAR presets' 2) could not train there."""
    import pickle

    write_waves(tmp_path / "data", n_train=64, n_val=16)
    train_set = PreparedDataset(tmp_path / "data", "train")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    loader = batching.make_loader(train_set, model, 32, True, 0, num_workers=1)
    assert len(pickle.dumps(loader.collate_fn)) < 1000  # the model's weights are not sent
    loader.multiprocessing_context = "spawn"
    inputs, labels = next(iter(loader))
    assert inputs.shape == (32, 1, 40) and labels.dtype == torch.long


def test_checkpoints_keep_the_cuda_generators_on_a_gpu(monkeypatch):
    """On a GPU dropout draws from the CUDA generators: a resumed run restarted them from the
    seed (only the CPU generator was saved), so it did not continue as the stopped run would."""
    saved = [torch.tensor([1, 2], dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: saved)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    cpu_state = torch.get_rng_state()
    states = resume.rng_states(torch.device("cuda"))
    assert states["cuda_rng"] is saved and torch.equal(states["rng"], cpu_state)
    assert "cuda_rng" not in resume.rng_states(torch.device("cpu"))
    torch.rand(3)
    resume.restore_rng_states(states, torch.device("cuda"))
    assert restored == [saved] and torch.equal(torch.get_rng_state(), cpu_state)
    resume.restore_rng_states(states, torch.device("cpu"))  # a GPU run resumed on a CPU
    assert restored == [saved]


def test_training_curves_log_the_cross_entropy_without_distillation(tmp_path):
    """train_loss is the objective, which steps up where distillation starts (0.122 -> 0.165
    at epoch 11 of the committed default run, read as a worse model); train_ce is its
    exit-weighted cross-entropy alone, comparable over all epochs."""
    write_waves(tmp_path / "data", n_train=128, n_val=16)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=2, batch_size=32, threads=1, device="cpu", distill_from=0.5,
                      distill_weight=1.0)
    logged: list[dict[str, float]] = []
    training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                         on_epoch=lambda epoch, values: logged.append(values), progress=False)
    assert logged[0]["train_ce"] == pytest.approx(logged[0]["train_loss"], rel=1e-9)
    assert logged[1]["train_loss"] > logged[1]["train_ce"] > 0  # distilling in epoch 2


def test_training_restores_the_thread_count_and_notes_late_milestones(tmp_path, capsys):
    """train_model from Python leaves torch's thread count as it found it; multistep
    milestones the run never reaches (a preset's [50, 100] after epochs=1) get a note."""
    write_waves(tmp_path / "data", n_train=64, n_val=16)
    train_set = PreparedDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=1, batch_size=32, threads=1, device="cpu", schedule="multistep",
                      milestones=[1, 50])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        training.train_model(model, train_set, val_set, cfg, tmp_path / "ckpt", "fp",
                             progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert ("note: train.milestones [1, 50] lie at or past the last epoch (1): the learning "
            "rate is not lowered there") in capsys.readouterr().err
    cfg.epochs = 2
    assert train_config.milestones_note(cfg) == (
        "note: train.milestones [50] lie at or past the last epoch (2): the learning rate is "
        "not lowered there")
    cfg.schedule = "onecycle"
    assert train_config.milestones_note(cfg) is None


class OrderRecordingDataset(PreparedDataset):
    """A prepared split that records the order its samples are read in (a batch at once)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[int] = []

    def __getitems__(self, indices):
        self.reads.extend(int(i) for i in indices)
        return super().__getitems__(indices)


def _epoch_orders(tmp_path, seed: int, run: str, epochs: int = 3) -> list[list[int]]:
    """The sample order of each training epoch `train_model` runs with `seed` (checkpoints
    in a folder of `run`'s own)."""
    train_set = OrderRecordingDataset(tmp_path / "data", "train")
    val_set = PreparedDataset(tmp_path / "data", "val")
    model = build_model("resnet1d_3", 10, widths=[4, 4, 4], blocks=[1, 1, 1])
    cfg = TrainConfig(epochs=epochs, batch_size=16, threads=1, device="cpu", seed=seed)
    training.train_model(model, train_set, val_set, cfg, tmp_path / f"ckpt-{run}", "fp",
                         progress=False)
    n = len(train_set)
    assert len(train_set.reads) == epochs * n
    return [train_set.reads[e * n:(e + 1) * n] for e in range(epochs)]


def test_runs_of_neighbouring_seeds_never_share_an_epochs_order(tmp_path):
    """The training order of an epoch is drawn from (seed, epoch): seeded seed + epoch (the
    DistributedSampler convention) the run of seed 1 read its samples in the order seed 0's
    run had one epoch later, so a study over seeds 0, 1, 2 saw the same batches shifted. Each
    epoch's order is a permutation of the split, the same again for the same seed."""
    write_waves(tmp_path / "data", n_train=64, n_val=16)
    first, second = _epoch_orders(tmp_path, 0, "first"), _epoch_orders(tmp_path, 1, "second")
    assert all(sorted(order) == list(range(64)) for order in first + second)
    assert not any(a == b for a in first for b in second)
    assert len({tuple(order) for order in first}) == len(first)  # epochs differ too
    assert _epoch_orders(tmp_path, 0, "again") == first


@pytest.mark.parametrize("lr", [1e4, 1e-2])
def test_a_model_that_learned_nothing_is_noted(tmp_path, capsys, lr):
    """train.lr 1e4 kept the weights finite (no divergence stop) and left every exit at
    chance: the pipeline fitted schedulers on it without a word. A note names it when no exit
    beats always answering the most common validation class; a model that learned says none."""
    from eenet.training_run import train_to_artifact

    write_waves(tmp_path / "data", n_train=640, n_val=200)
    cfg = TrainConfig(epochs=3, batch_size=64, threads=1, device="cpu", lr=lr,
                      schedule="constant")
    summary = train_to_artifact(tmp_path / "data", tmp_path / "model", tmp_path / "ckpt",
                                tmp_path / "live", {"name": "resnet1d_3", "options": {
                                    "widths": [4, 4, 4], "blocks": [1, 1, 1]}}, cfg)
    labels = PreparedDataset(tmp_path / "data", "val").y
    common = 100.0 * np.bincount(labels).max() / labels.size
    notes = [line for line in capsys.readouterr().err.splitlines() if "learned nothing" in line]
    if lr == 1e4:
        assert max(summary["val_accuracy"]) <= common + training.CHANCE_MARGIN
        assert notes == [
            f"note: train: no exit beats always answering the most common class on validation "
            f"(best exit {max(summary['val_accuracy']):.2f} %, that class {common:.2f} %): the "
            f"model learned nothing; check train.lr (10000: far too high or too low?) and "
            f"train.epochs (3)"]
    else:
        assert max(summary["val_accuracy"]) > common + training.CHANCE_MARGIN
        assert notes == []


def test_the_learned_nothing_note_compares_with_the_most_common_class():
    """60 % of the labels are class 0: an exit at 62 % is no better than answering 0 always
    (within the 2-point margin), one at 62.5 % is; exits without an accuracy are left out."""
    labels = np.array([0] * 6 + [1] * 4)
    cfg = TrainConfig(epochs=5, lr=0.5)
    assert training.chance_note([61.0, 62.0], labels, cfg) is not None
    assert training.chance_note([61.0, 62.5], labels, cfg) is None
    assert training.chance_note([None, None], labels, cfg) is None
    # 97 % of one class: no exit could beat answering it by 2 points, none is blamed
    assert training.chance_note([97.0], np.array([0] * 97 + [1] * 3), cfg) is None
    assert training.chance_note([None, 10.0], labels, cfg).endswith(
        "check train.lr (0.5: far too high or too low?) and train.epochs (5)")


@pytest.mark.parametrize("split, given, got", [
    ("train", [0, 1, 4], "[0, 4]"),
    ("train", [0, -100, 1], "[-100, 3]"),  # cross-entropy's ignore_index: skipped silently
    ("val", [0, 1, 7], "[0, 7]"),
])
def test_labels_outside_the_models_classes_are_one_line(tmp_path, split, given, got):
    """A data set of one's own with a label past the model's classes: training raised an
    IndexError traceback (a device-side assert on a GPU) or skipped -100 without a word, and
    validation counted such samples wrong."""
    x = torch.randn(20, 1, 32)
    labels = torch.arange(20) % 4
    wrong = labels.clone()
    wrong[:3] = torch.tensor(given)
    sets = {name: TensorDataset(x, wrong if name == split else labels) for name in ("train", "val")}
    cfg = TrainConfig(epochs=1, batch_size=20, threads=1, device="cpu")
    with pytest.raises(ArtifactError) as err:
        training.train_model(TinyNet(num_classes=4), sets["train"], sets["val"], cfg,
                             tmp_path / "ckpt", "fp", progress=False)
    assert str(err.value) == (f"{split}_set: labels must lie in [0, 3] (the 4 classes of the "
                              f"model's exits), got {got}")


class OneBadSample(torch.utils.data.Dataset):
    """20 samples of 4 classes; sample 13 is bad: a float label (`kind` "label", a LabelError
    of the loader's collate) or a read that fails (`kind` "read", a ConfigError of the data
    set's own; `kind` "bug", a ValueError of two lines; "missing", a KeyError; "undecodable",
    a UnicodeDecodeError)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.x = torch.randn(20, 1, 32, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return 20

    def __getitem__(self, index: int) -> tuple[torch.Tensor, object]:
        if index == 13 and self.kind == "read":
            raise ConfigError("my_data: sample 13 cannot be read")
        if index == 13 and self.kind == "bug":
            raise ValueError("sample 13: bad bytes\nsecond line")
        if index == 13 and self.kind == "missing":
            raise KeyError("sample 13")
        if index == 13 and self.kind == "undecodable":
            b"\xff".decode("utf-8")
        return self.x[index], 2.5 if index == 13 and self.kind == "label" else index % 4


@pytest.mark.parametrize("kind, error, message", [
    ("label", "LabelError",
     "labels: expected an integer class index per sample, got float labels such as 2.5"),
    ("read", "ConfigError", "my_data: sample 13 cannot be read"),
])
def test_an_error_in_a_loader_worker_is_the_same_one_line(tmp_path, kind, error, message):
    """With train.num_workers > 0, an EENetError met reading a batch (a label that is no class
    index, or one the data set raises) reached the user as torch's paragraph, "Caught LabelError
    in DataLoader worker process 0. Original Traceback (most recent call last): ...", in an
    error of the same class; now it is the line the main process would raise."""
    cfg = {workers: TrainConfig(epochs=1, batch_size=5, threads=1, device="cpu",
                                num_workers=workers) for workers in (0, 1)}
    caught = []
    for workers in (0, 1):
        with pytest.raises(EENetError) as err:
            training.train_model(TinyNet(num_classes=4), OneBadSample(kind), OneBadSample("ok"),
                                 cfg[workers], tmp_path / f"ckpt{workers}", "fp", progress=False)
        caught.append((type(err.value).__name__, str(err.value)))
    assert caught == [(error, message)] * 2


def test_another_error_in_a_loader_worker_is_one_line_naming_where(tmp_path):
    """An error of any other kind in a loader worker (a data set's bug: a ValueError) reached
    the user as torch's paragraph, "Caught ValueError in DataLoader worker process 0. Original
    Traceback ...", for message (under DDP the other processes quoted its first line, which
    says nothing). Now it is an error of its class in one line: its first line, the worker,
    the batch's samples and the frame that raised it; the worker's traceback is its cause."""
    model = TinyNet(num_classes=4)
    loader = batching.make_loader(OneBadSample("bug"), model, 5, False, 0, num_workers=1)
    with pytest.raises(ValueError) as err:
        list(loader)
    assert re.fullmatch(r"sample 13: bad bytes \(DataLoader worker 0, reading samples 10, 11, "
                        r"12, 13, \.\.\. \(5 in all\), at .*test_training_recipe\.py:\d+ in "
                        r"__getitem__\)", str(err.value)), str(err.value)
    cause = err.value.__cause__
    assert type(cause) is ValueError and str(cause).startswith("in DataLoader worker 0:\n")
    assert "ValueError: sample 13: bad bytes\nsecond line" in str(cause)
    assert "raise ValueError" in str(cause)  # the worker's traceback, its source lines
    cfg = TrainConfig(epochs=1, batch_size=5, threads=1, device="cpu", num_workers=1)
    with pytest.raises(ValueError) as err:  # training's loader so too (its samples shuffled)
        training.train_model(model, OneBadSample("bug"), OneBadSample("ok"), cfg,
                             tmp_path / "ckpt", "fp", progress=False)
    assert "\n" not in str(err.value) and str(err.value).startswith(
        "sample 13: bad bytes (DataLoader worker 0, reading samples ")


@pytest.mark.parametrize("kind, error, line", [
    ("missing", KeyError, "'sample 13'"),
    ("undecodable", RuntimeError, "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in "
     "position 0: invalid start byte"),
])
def test_a_loader_workers_error_of_an_awkward_class_is_one_line(kind, error, line):
    """A KeyError in a loader worker (a dict or a DataFrame missing a key) was raised quoted
    twice over, KeyError: "'sample 13' (DataLoader worker 0, ...)", its cause the worker's
    traceback in one line with its line breaks written \\n (a KeyError's text is the repr of
    its argument). Now it reads as Python's own KeyError does, its cause as a traceback. An
    error whose class takes no message alone (UnicodeDecodeError) is a RuntimeError naming the
    class, its cause so too."""
    loader = batching.make_loader(OneBadSample(kind), TinyNet(num_classes=4), 5, False, 0,
                                  num_workers=1)
    with pytest.raises(error) as err:
        list(loader)
    assert type(err.value) is error
    where = (r" \(DataLoader worker 0, reading samples 10, 11, 12, 13, \.\.\. \(5 in all\), "
             r"at .*test_training_recipe\.py:\d+ in __getitem__\)")
    assert re.fullmatch(re.escape(line) + where, str(err.value)), str(err.value)
    cause = str(err.value.__cause__)
    prefix = "UnicodeDecodeError: " if error is RuntimeError else ""
    assert type(err.value.__cause__) is error
    assert cause.startswith(f"{prefix}in DataLoader worker 0:\nTraceback (most recent call "
                            "last):\n"), cause
    assert cause.endswith(kind == "missing" and "KeyError: 'sample 13'" or
                          "invalid start byte"), cause
