"""The DisA and SpA terms under `torch.compile`: one graph, no host synchronisation in it, the eager numbers.

`fullgraph=True` turns a graph break into an error, but Dynamo (torch 2.14, tested here) captures a host read
(`.item()`, `bool(tensor)`, `float(tensor)`) into the graph instead of breaking it, so the absence of graph breaks
alone does not prove that the compiled code never waits for the device. The tests therefore record every captured
graph (a backend that keeps the FX graph and hands it on to "aot_eager", which runs the same Dynamo capture and AOT
autograd trace as inductor without minutes of C++ compilation on CPU) and look for host-read nodes in it.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from _synthetic import synthetic_pixel_dataset
from transformers import set_seed

from ltnc_hf import LtncConfig, LtncForImageClassification, LtncTrainer, LtncTrainingArguments
from ltnc_hf.losses import DisALoss, spa_reg_loss
from ltnc_hf.modeling import simplex_etf
from ltnc_hf.ot import sinkhorn

COUNTS = [24, 12, 6, 4]


# FX nodes that read a tensor's value on the host (a device synchronisation inside the compiled code)
_HOST_READ_METHODS = {"item", "tolist", "__bool__", "__float__", "__int__", "nonzero", "numpy", "cpu"}
_HOST_READ_OPS = ("_local_scalar_dense", "nonzero", "_assert_scalar", "masked_select", "unique")


class _Recorder:
    """A torch.compile backend that keeps each captured FX graph and compiles it with aot_eager."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, example_inputs):
        self.graphs.append(gm)
        return torch._dynamo.lookup_backend("aot_eager")(gm, example_inputs)

    def host_reads(self) -> list[str]:
        from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

        found = []
        for gm in self.graphs:
            for node in gm.graph.nodes:
                name = str(getattr(node.target, "__name__", node.target))
                if (node.op == "call_method" and node.target in _HOST_READ_METHODS) or (
                    node.op == "call_function" and any(op in name for op in _HOST_READ_OPS)
                ):
                    found.append(f"{node.op} {name}")
                elif free_unbacked_symbols(node.meta.get("example_value")):
                    found.append(f"{node.op} {name} (value-dependent size or scalar)")
        return found


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    # the defaults, pinned: value-dependent shapes are graph breaks (rejected by fullgraph=True), not captured
    with torch._dynamo.config.patch(capture_scalar_outputs=False, capture_dynamic_output_shape_ops=False):
        yield
    torch._dynamo.reset()


def test_fixed_iteration_sinkhorn_matches_the_converged_plan():
    cost = torch.rand(32, 10, generator=torch.Generator().manual_seed(0)) * 2
    converged = sinkhorn(cost, 1.0, tol=1e-12, max_iter=1000)
    fixed, info = sinkhorn(cost, 1.0, tol=None, max_iter=50, return_info=True)
    assert info.n_iter == 50 and info.converged is None
    assert isinstance(info.error, torch.Tensor) and info.error.ndim == 0
    assert float(info.error) < 1e-9
    torch.testing.assert_close(fixed, converged, atol=1e-9, rtol=0)
    # exactly max_iter iterations: too few leaves a measurable marginal error (so the count is honoured)
    _, short = sinkhorn(cost, 0.05, tol=None, max_iter=2, return_info=True)
    assert float(short.error) > 1e-6


def test_fixed_iteration_sinkhorn_skips_the_host_checks_but_still_validates_shapes():
    bad = torch.full((4, 3), float("nan"))
    assert torch.isnan(sinkhorn(bad, 1.0, tol=None, max_iter=3)).all()  # no host read of the values
    with pytest.raises(ValueError, match="contains NaN"):
        sinkhorn(bad, 1.0)
    with pytest.raises(ValueError, match="1-D tensor of length 4"):
        sinkhorn(torch.rand(4, 3), 1.0, tol=None, a=torch.ones(3) / 3)
    with pytest.raises(ValueError, match="None \\(fixed iterations\\)"):
        sinkhorn(torch.rand(4, 3), 1.0, tol=-1.0)


@pytest.mark.parametrize("plan_grad", ["detach", "unroll"])
@pytest.mark.parametrize("cost", ["cosine", "sqeuclidean"])
def test_disa_loss_compiles_to_one_graph_with_the_eager_value_and_gradient(plan_grad, cost):
    etf = simplex_etf(10, 16, seed=0)
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(24, 16, generator=gen, requires_grad=True)
    eager = DisALoss(1.0, cost=cost, plan_grad=plan_grad, max_iter=40, tol=1e-12)
    ref = eager(features, etf)
    (ref_grad,) = torch.autograd.grad(ref, features)

    # the default tol: under torch.compile the loop runs max_iter iterations without checking
    module = DisALoss(1.0, cost=cost, plan_grad=plan_grad, max_iter=40)
    recorder = _Recorder()
    compiled = torch.compile(module, fullgraph=True, backend=recorder)
    out = compiled(features, etf)
    (grad,) = torch.autograd.grad(out, features)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grad, ref_grad, atol=1e-6, rtol=1e-5)
    assert module.last_info.n_iter == 40 and module.last_info.converged is None
    assert float(module.last_info.error) < 1e-6
    torch.testing.assert_close(module.last_plan, eager.last_plan, atol=1e-7, rtol=1e-5)
    assert len(recorder.graphs) == 1 and not recorder.host_reads()
    assert not torch._dynamo.utils.counters["graph_break"]


def test_the_host_read_check_can_fail():
    """A host read of a tensor value (what the eager tolerance loop does every 10 iterations) is detected."""

    def converge_on_host(cost):
        plan = sinkhorn(cost, 1.0)
        return plan * float((plan.sum(1) - 0.125).abs().sum())

    recorder = _Recorder()
    torch.compile(converge_on_host, fullgraph=True, backend=recorder)(torch.rand(8, 4))
    assert recorder.host_reads()


def test_sinkhorn_with_explicit_marginals_compiles_without_host_reads():
    gen = torch.Generator().manual_seed(0)
    cost = torch.rand(12, 5, generator=gen)
    a = torch.rand(12, generator=gen) + 0.1
    a = a / a.sum()
    b = torch.full((5,), 0.2)
    reference = sinkhorn(cost, 0.5, a=a, b=b, tol=1e-12, max_iter=500)
    recorder = _Recorder()
    plan = torch.compile(lambda c, a, b: sinkhorn(c, 0.5, a=a, b=b, max_iter=200), fullgraph=True, backend=recorder)(
        cost, a, b
    )
    torch.testing.assert_close(plan, reference, atol=1e-7, rtol=1e-5)
    assert len(recorder.graphs) == 1 and not recorder.host_reads()


def test_trainer_class_mean_helpers_have_no_host_reads():
    from ltnc_hf.losses import ClassMeanTracker

    tracker = ClassMeanTracker(4, 8, momentum=0.9, distributed=False)
    gen = torch.Generator().manual_seed(0)
    tracker.update(torch.randn(6, 8, generator=gen), torch.tensor([0, 0, 1, 1, 2, 2]))
    features = torch.randn(6, 8, generator=gen, requires_grad=True)
    labels = torch.tensor([0, 1, 1, 2, 2, 2])
    eager = LtncTrainer._differentiable_centered_means(features, labels, tracker)
    recorder = _Recorder()
    compiled = torch.compile(LtncTrainer._differentiable_centered_means, fullgraph=True, backend=recorder)
    torch.testing.assert_close(compiled(features, labels, tracker), eager)
    weight = torch.randn(4, 8, generator=gen)
    cos = torch.compile(LtncTrainer._spa_cosine, fullgraph=True, backend=recorder)(weight, tracker)
    torch.testing.assert_close(cos, LtncTrainer._spa_cosine(weight, tracker))
    assert len(recorder.graphs) == 2 and not recorder.host_reads(), recorder.host_reads()


def test_spa_reg_compiles_to_one_graph():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(10, 16, generator=gen, requires_grad=True)
    means = torch.randn(10, 16, generator=gen)
    seen = torch.arange(10) < 7
    ref = spa_reg_loss(weight, means, mask=seen)
    recorder = _Recorder()
    out = torch.compile(spa_reg_loss, fullgraph=True, backend=recorder)(weight, means, mask=seen)
    torch.testing.assert_close(out, ref)
    assert len(recorder.graphs) == 1 and not recorder.host_reads()


def _model(seed=0):
    set_seed(seed)
    config = LtncConfig(
        backbone="cifar_resnet8",
        backbone_kwargs={"in_chans": 1},
        num_labels=len(COUNTS),
        head="linear",
        disa_target_etf=True,
        image_size=8,
        num_channels=1,
    )
    return LtncForImageClassification(config)


def _train(tmp_path, name, **kw):
    args = LtncTrainingArguments(
        output_dir=str(tmp_path / name),
        per_device_train_batch_size=8,
        learning_rate=0.05,
        max_steps=3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
        disa=True,
        disa_weight=1.0,
        disa_max_iter=30,
        spa="reg",
        spa_reg_feature_grad=True,
        disa_log_grad_ratio=True,
        mixup_alpha=1.0,
        **kw,
    )
    trainer = LtncTrainer(model=_model(), args=args, train_dataset=synthetic_pixel_dataset(COUNTS, size=8))
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss_disa" in entry]
    return trainer, logs


def test_trainer_with_torch_compile_has_no_graph_break_or_host_read_in_the_disa_and_spa_terms(
    tmp_path, single_thread, monkeypatch
):
    eager, eager_logs = _train(tmp_path, "eager", disa_tol=None)
    torch._dynamo.utils.counters.clear()
    # record what the trainer compiles (its DisA and SpA-Reg functions with fullgraph=True)
    recorders, real_compile = [], torch.compile

    def recording_compile(fn, **kwargs):
        recorders.append((fn, kwargs, _Recorder()))
        return real_compile(fn, **{**kwargs, "backend": recorders[-1][2]})

    monkeypatch.setattr("ltnc_hf.trainer.ltnc_trainer.torch.compile", recording_compile)
    compiled, compiled_logs = _train(tmp_path, "compiled", torch_compile=True, torch_compile_backend="aot_eager")
    monkeypatch.undo()
    assert not torch._dynamo.utils.counters["graph_break"], dict(torch._dynamo.utils.counters["graph_break"])
    # the model (compiled by Accelerate), the DisA loss and the SpA-Reg term: none reads a value on the host
    names = {getattr(fn, "__name__", type(fn).__name__) for fn, _, _ in recorders}
    assert names == {"LtncForImageClassification", "DisALoss", "_spa_reg"}, names
    for fn, kwargs, rec in recorders:
        assert rec.graphs, f"{fn} was never compiled"
        assert not rec.host_reads(), (type(fn).__name__, rec.host_reads())
        if not isinstance(fn, LtncForImageClassification):
            assert kwargs["fullgraph"] is True
    # the compiled run gives the eager run's numbers
    assert len(compiled_logs) == len(eager_logs) == 3
    for a, b in zip(eager_logs, compiled_logs):
        for key in ("loss_supervised", "loss_disa", "loss_spa_reg", "spa_tracker_cosine", "disa_grad_ratio"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
        assert b["disa_sinkhorn_error"] < 1e-6
