"""Wall-clock time of `neural_collapse_metrics` at ImageNet-LT scale (50,000 x 2,048 features, 1,000 classes).

Compares it with the direct computation (Σ_W as a d x d matrix from the centred features, `torch.linalg.pinv(Σ_B)`)
and checks that both give the same NC1. Writes `benchmarks/results/nc_metrics_speed.json` (one record per device,
thread count and shape, replacing an earlier one).

    python benchmarks/nc_metrics_speed.py                    # CPU, ImageNet-LT test-set shape
    python benchmarks/nc_metrics_speed.py --device cuda
    python benchmarks/nc_metrics_speed.py --num-samples 10000 --dim 128 --num-classes 100   # CIFAR-100 scale
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from ltnc_hf.metrics import neural_collapse_metrics


def direct_nc1(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """NC1 with Σ_W formed explicitly (one O(N·d²) matrix product) and a full pseudo-inverse of Σ_B."""
    h = features.to(torch.float64)
    counts = torch.bincount(labels, minlength=num_classes).to(torch.float64)
    means = torch.zeros(num_classes, h.shape[1], dtype=torch.float64, device=h.device).index_add_(0, labels, h)
    means /= counts.unsqueeze(1)
    centred_rows = h - means[labels]
    sample_weight = 1.0 / (num_classes * counts[labels])
    sigma_w = (centred_rows * sample_weight.unsqueeze(1)).T @ centred_rows
    centred_means = means - means.mean(dim=0)
    sigma_b = centred_means.T @ centred_means / num_classes
    pinv = torch.linalg.pinv(sigma_b, hermitian=True, rtol=1e-10)
    return (torch.trace(sigma_w @ pinv) / num_classes).item()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device: torch.device, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-direct", action="store_true", help="do not time the direct O(N·d²) computation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "nc_metrics_speed.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(args.seed)
    k, d, n = args.num_classes, args.dim, args.num_samples
    # a balanced-ish test set with every class present, class structure plus noise, float32 like a model's output
    labels = torch.cat([torch.arange(k), torch.randint(0, k, (n - k,), generator=gen)])
    centres = torch.randn(k, d, generator=gen) * 2.0
    features = (centres[labels] + torch.randn(n, d, generator=gen)).to(device)
    labels = labels.to(device)
    weight = torch.randn(k, d, generator=gen).to(device)
    logits = features @ weight.T

    # warm-up (lazy CUDA / BLAS initialisation)
    neural_collapse_metrics(features[: 4 * k], labels[: 4 * k], weight=weight, num_classes=k)
    seconds, metrics = time_call(
        lambda: neural_collapse_metrics(features, labels, weight=weight, logits=logits), device, args.repeats
    )
    cpu = f"{platform.machine()} CPU, {os.cpu_count()} cores"
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu
    record = {
        "device": str(device),
        "device_name": device_name,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "num_samples": n,
        "dim": d,
        "num_classes": k,
        "input_dtype": str(features.dtype),
        "seconds_neural_collapse_metrics": round(seconds, 4),
        "nc1": metrics["nc1"],
    }
    if not args.skip_direct:
        direct_seconds, nc1_direct = time_call(lambda: direct_nc1(features, labels, k), device, 1)
        record["seconds_direct_sigma_w_pinv"] = round(direct_seconds, 4)
        record["nc1_direct"] = nc1_direct
        record["nc1_relative_difference"] = abs(metrics["nc1"] - nc1_direct) / abs(nc1_direct)
    print(json.dumps(record, indent=2))

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    records = json.loads(output.read_text()) if output.exists() else []
    records = [
        r
        for r in records
        if (r.get("device_name"), r.get("torch_threads"), r["num_samples"], r["dim"], r["num_classes"])
        != (device_name, record["torch_threads"], n, d, k)
    ]
    records.append(record)
    output.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
