"""Execution settings: what is chosen where, and that the fast paths keep the numbers."""

import json

import pytest
import torch

from conftest import small_config
from vaelab.errors import ConfigError
from vaelab.models import build_model
from vaelab.training import RunConfig, RunDir, prepare_config, train
from vaelab.training.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from vaelab.training.execution import choose_execution
from vaelab.training.monitor import RunningLoss, SumsCopy, SumsReader
from vaelab.training.optimizer import make_adam
from vaelab.training.trainer import Trainer

QUIET = {"progress": False, "log": lambda s: None}
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_choices_per_device():
    cpu = choose_execution(CPU)
    assert cpu.channels_last and not cpu.cuda_graphs and cpu.memory_format == torch.channels_last
    gpu = choose_execution(CUDA)
    assert not gpu.cuda_graphs and not gpu.channels_last  # CUDA graphs are opt-in until checked on a GPU
    assert choose_execution(CUDA, cuda_graphs=True).cuda_graphs
    assert not choose_execution(CUDA, cuda_graphs=True, distributed=True).cuda_graphs
    assert not choose_execution(CUDA, cuda_graphs=True, compile=True).cuda_graphs
    assert not choose_execution(CPU, cuda_graphs=True).cuda_graphs
    assert not choose_execution(CPU, channels_last=False).channels_last
    with pytest.raises(ConfigError, match="precision"):
        choose_execution(CPU, precision="fp16")


def _fit(tmp_path, name, train_images, test_images, **execution):
    config = small_config(epochs=1, precision=execution.pop("precision", "fp32"))
    trainer = Trainer(
        config,
        RunDir(tmp_path / name),
        train_images,
        test_images,
        execution=choose_execution(CPU, precision=config.precision, **execution),
        **QUIET,
    )
    (tmp_path / name).mkdir()
    return trainer.fit()[-1], trainer.model


def test_channels_last_changes_only_the_rounding(tmp_path, train_images, test_images):
    nchw, nchw_model = _fit(tmp_path, "nchw", train_images, test_images, channels_last=False)
    nhwc, nhwc_model = _fit(tmp_path, "nhwc", train_images, test_images, channels_last=True)
    for part in ("train", "val"):
        for term, value in nchw[part].items():
            assert nhwc[part][term] == pytest.approx(value, rel=1e-4), (part, term)
    for (name, a), b in zip(nchw_model.state_dict().items(), nhwc_model.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=2e-3, msg=name)


def test_bf16_trains_close_to_fp32_and_validates_in_fp32(tmp_path, train_images, test_images):
    fp32, _ = _fit(tmp_path, "fp32", train_images, test_images)
    bf16, model = _fit(tmp_path, "bf16", train_images, test_images, precision="bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert bf16["val"]["loss"] == pytest.approx(fp32["val"]["loss"], rel=0.03)
    assert bf16["val"]["loss"] != fp32["val"]["loss"]


def test_execution_settings_are_saved_and_may_change_on_resume(tmp_path, train_images, test_images):
    config = small_config(epochs=1, threads=1, precision="bf16")
    train(config, tmp_path / "run", train_set=train_images, test_set=test_images, **QUIET)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["precision"], saved["threads"], saved["compile"], saved["cuda_graphs"]) == ("bf16", 1, False, False)
    resumed = prepare_config(RunDir(tmp_path / "run"), None, resume=True, precision="fp32", threads=2, compile=True)
    assert (resumed.precision, resumed.threads, resumed.compile) == ("fp32", 2, True)
    with pytest.raises(ConfigError, match="--precision"):
        small_config(precision="fp8")
    with pytest.raises(ConfigError, match="--threads"):
        small_config(threads=0)


def test_cuda_graphs_are_opt_in_and_a_runs_saved_choice_is_kept(tmp_path):
    assert (
        not RunConfig.from_preset("book-ae").cuda_graphs
        and RunConfig.from_preset("book-ae", cuda_graphs=True).cuda_graphs
    )
    written_before = small_config().to_dict() | {"cuda_graphs": True}  # config.json of a run from vaelab 0.5
    run_dir = RunDir(tmp_path / "old")
    run_dir.path.mkdir()
    run_dir.config.write_text(json.dumps(written_before))
    saved = run_dir.read_config()
    assert saved.cuda_graphs and saved.resumed_with(epochs=3, cuda_graphs=None).cuda_graphs  # resumed without a flag
    assert choose_execution(CUDA, cuda_graphs=saved.cuda_graphs).cuda_graphs  # as the trainer chooses
    assert not saved.resumed_with(cuda_graphs=False).cuda_graphs  # --no-cuda-graphs on --resume
    without = {key: value for key, value in written_before.items() if key != "cuda_graphs"}  # before the option
    run_dir.config.write_text(json.dumps(without))
    assert not run_dir.read_config().cuda_graphs


def test_threads_apply_during_training_only(tmp_path, train_images, test_images, monkeypatch):
    seen = []
    original = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self: seen.append(torch.get_num_threads()) or original(self))
    torch.set_num_threads(2)  # the autouse fixture restores the usual count afterwards
    train(small_config(epochs=1, threads=1), tmp_path / "run", train_set=train_images, test_set=test_images, **QUIET)
    assert seen == [1] and torch.get_num_threads() == 2


def test_a_checkpoint_loads_into_another_adam_implementation(tmp_path):
    torch.manual_seed(0)
    model = build_model(small_config().model)
    fused = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    model(torch.rand(4, 1, 32, 32)).logits.mean().backward()
    fused.step()
    save_checkpoint(tmp_path / "c.safetensors", model, fused, TrainingState(), {})
    other = make_adam(model.parameters(), 1e-3, CPU)
    load_checkpoint(tmp_path / "c.safetensors", model, other)
    group = other.param_groups[0]
    assert group["foreach"] is True and not group["fused"] and group["lr"] == 1e-3
    for p in model.parameters():
        torch.testing.assert_close(other.state[p]["exp_avg"], fused.state[p]["exp_avg"], rtol=0, atol=0)


def test_running_loss_on_the_cpu_is_the_current_mean():
    sums = torch.tensor([6.0, 1.0], dtype=torch.float64)
    running = RunningLoss(sums)
    assert running.read(3) == 2.0
    sums[0] = 9.0
    assert running.read(4) == 2.25


class CudaEventStandIn:
    """A stand-in for a CUDA event, so that the GPU path of SumsReader runs on the CPU."""

    def record(self):
        pass

    def synchronize(self):
        pass


def test_sums_read_on_a_gpu_come_one_read_late_with_their_own_step():
    sums = torch.tensor([6.0, 1.0], dtype=torch.float64)
    reader = SumsReader(sums)
    assert reader.read(5, 3) == SumsCopy(5, 3, (6.0, 1.0))  # the CPU: the sums now
    reader.event = CudaEventStandIn()
    assert reader.read(5, 3) is None
    sums += 1
    assert reader.read(10, 6) == SumsCopy(5, 3, (6.0, 1.0))
    assert reader.drain() == SumsCopy(10, 6, (7.0, 2.0))
    assert reader.drain() is None


def test_bf16_losses_are_computed_from_float32_outputs():
    torch.manual_seed(0)
    model = build_model(small_config().model.__class__(kind="vae"))
    bf16 = choose_execution(CPU, precision="bf16")
    with bf16.autocast():
        output = model(torch.rand(4, 1, 32, 32))
    assert output.posterior.mean.dtype == torch.bfloat16
    widened = bf16.float32_outputs(output)
    posterior = widened.posterior
    assert {widened.logits.dtype, widened.z.dtype, posterior.mean.dtype, posterior.log_var.dtype} == {torch.float32}
    assert choose_execution(CPU).float32_outputs(output) is output
