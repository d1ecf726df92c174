"""The `ltnc-hf` command line: `train`, `demo`, `evaluate` and `build-dataset`."""

from __future__ import annotations

import argparse
import os
import sys

DEMO_RECIPE = {
    "dataset": "fashion_mnist",
    "imbalance_factor": 100,
    "train_transform": "basic",
    "image_size": 28,
    "backbone": "cifar_resnet8",
    "backbone_kwargs": {"in_chans": 1},
    "head": "linear",
    "disa_target_etf": True,
    "loss_type": "ce",
    "disa": True,
    # lambda = 1 at epsilon = 1: on Fashion-MNIST-LT the strongest DisA that did not cost accuracy (README benchmark)
    "disa_weight": 1.0,
    "disa_epsilon": 1.0,
    "num_train_epochs": 4,
    "learning_rate": 0.05,
    "lr_warmup_epochs": 1,
    "lr_step_epochs": "3",
    "weight_decay": 2e-4,
    "optim": "sgd",
    "optim_args": "momentum=0.9",
    "per_device_train_batch_size": 128,
    "per_device_eval_batch_size": 512,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "logging_steps": 20,
    "dataloader_num_workers": 0,
    "use_cpu": True,
    "seed": 0,
}


def _demo(args: argparse.Namespace) -> int:
    from .data.fashion_mnist import DEFAULT_FASHION_MNIST_DIR
    from .train import main as train_main

    recipe = dict(DEMO_RECIPE)
    recipe["output_dir"] = args.output_dir
    files_here = os.path.isfile(os.path.join(DEFAULT_FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz"))
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    if not files_here and (offline or not _hub_reachable()):
        print(
            f"Fashion-MNIST files not found in {DEFAULT_FASHION_MNIST_DIR} and the Hub is unreachable: running the "
            "demo on scikit-learn's bundled digits instead (8x8 images upscaled to 16x16; install Debian's "
            "dataset-fashion-mnist for the real demo).",
            flush=True,
        )
        recipe.update({"dataset": "digits", "imbalance_factor": 10, "image_size": 16, "num_train_epochs": 15})
        recipe["lr_step_epochs"] = "12"
    if args.epochs is not None:
        recipe["num_train_epochs"] = args.epochs
        recipe["lr_step_epochs"] = str(max(int(args.epochs) - 1, 1))
    print(
        f"ltnc-hf demo: CE + DisA on {recipe['dataset']}-LT (rho={recipe['imbalance_factor']}), "
        f"output in {args.output_dir}"
    )
    train_main(argv=list(args.overrides), recipe=recipe)
    print(f"Model, card, metrics and plots written under {args.output_dir}")
    return 0


def _hub_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


def _build_dataset(args: argparse.Namespace) -> int:
    from .data import build_dataset, class_counts, format_count_table
    from .data.builders import FIXED_SPLIT_DATASETS, canonical_dataset_name

    kwargs = {}
    if args.data_dir is not None:
        kwargs["data_dir"] = args.data_dir
    if canonical_dataset_name(args.name) in FIXED_SPLIT_DATASETS:
        # ImageNet-LT / Places-LT / list files come long-tailed already: their builders take `root`
        kwargs = {"root": kwargs.pop("data_dir")} if "data_dir" in kwargs else {}
        imbalance_factor = None
    else:
        kwargs.update(profile=args.profile, selection=args.selection, seed=args.seed)
        imbalance_factor = args.imbalance_factor
    dsd = build_dataset(
        args.name,
        imbalance_factor,
        args.output,
        push_to_hub=args.push_to_hub,
        overwrite=args.overwrite,
        **kwargs,
    )
    train = dsd["train"]
    names = getattr(train.features["label"], "names", None)
    print(format_count_table(class_counts(train), names, many=args.many, few=args.few))
    for split, ds in dsd.items():
        print(f"{split}: {len(ds)} images")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from .data import class_counts, create_transform, load_lt_dataset, with_image_transforms
    from .metrics import evaluate_model
    from .modeling import LtncForImageClassification

    model = LtncForImageClassification.from_pretrained(args.model)
    in_chans = int(getattr(model.config, "num_channels", 3))
    dsd = load_lt_dataset(args.dataset, args.imbalance_factor, data_dir=args.data_dir)
    if args.split not in dsd:
        raise ValueError(f"Dataset {args.dataset!r} has no split {args.split!r} (splits: {list(dsd)}).")
    image_size = int(getattr(model.config, "image_size", 32))
    eval_tf = create_transform(args.transform, train=False, image_size=image_size, in_chans=in_chans)
    transformed = with_image_transforms({args.split: dsd[args.split]}, eval_tf, eval_tf)
    report = evaluate_model(
        model,
        transformed[args.split],
        output_dir=args.output_dir,
        train_class_counts=class_counts(dsd["train"]),
        batch_size=args.batch_size,
    )
    shown = {k: v for k, v in report.items() if isinstance(v, (int, float))}
    print(json.dumps(shown, indent=2))
    return 0


def _push(args: argparse.Namespace) -> int:
    from .hub import push_checkpoint

    url = push_checkpoint(args.folder, args.repo_id, private=args.private)
    print(f"Pushed {args.folder} to {args.repo_id}: {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltnc-hf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="Train from a recipe: ltnc-hf train --config recipes/<...>.yaml [--field value ...]",
        add_help=False,
    )
    train.add_argument("rest", nargs=argparse.REMAINDER)

    demo = sub.add_parser(
        "demo",
        help="A few CPU minutes of CE + DisA on Fashion-MNIST-LT, offline; any --field value overrides the recipe.",
    )
    demo.add_argument("--output-dir", default="outputs/demo")
    demo.add_argument("--epochs", type=int, default=None)

    build = sub.add_parser("build-dataset", help="Build a long-tailed dataset and save or publish it.")
    build.add_argument("name")
    build.add_argument(
        "--imbalance-factor", type=float, default=None, help="rho (required except for ImageNet-LT / Places-LT)."
    )
    build.add_argument("--output", default=None, help="Folder to save_to_disk into (must not exist).")
    build.add_argument("--push-to-hub", default=None, help="Hub dataset repo; one config per imbalance factor.")
    build.add_argument("--overwrite", action="store_true")
    build.add_argument("--data-dir", default=None)
    build.add_argument("--profile", default="exp")
    build.add_argument("--selection", default="ldam")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--many", type=int, default=100)
    build.add_argument("--few", type=int, default=20)

    ev = sub.add_parser("evaluate", help="Evaluate a checkpoint: accuracy by shot group, NC metrics and plots.")
    ev.add_argument("--model", required=True, help="Checkpoint folder or Hub id.")
    ev.add_argument("--dataset", required=True)
    ev.add_argument("--imbalance-factor", type=float, default=100.0, help="rho of the training split (shot groups).")
    ev.add_argument("--data-dir", default=None)
    ev.add_argument("--split", default="test")
    ev.add_argument("--transform", default="basic")
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--output-dir", default="outputs/evaluation")

    push = sub.add_parser("push", help="Upload a trained model folder (weights, processor, card, code) to the Hub.")
    push.add_argument("folder", help="The `final/` folder of a training run.")
    push.add_argument("--repo-id", required=True)
    push.add_argument("--private", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "train":  # everything after `train` belongs to the training arguments
        args = argparse.Namespace(command="train", rest=argv[1:])
    else:
        args, unknown = parser.parse_known_args(argv)
        if args.command == "demo":
            args.overrides = unknown  # --field value pairs overriding the demo recipe
        elif unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "train":
            from .train import main as train_main

            train_main(argv=args.rest)
            return 0
        if args.command == "demo":
            return _demo(args)
        if args.command == "build-dataset":
            return _build_dataset(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "push":
            return _push(args)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"ltnc-hf {args.command}: error: {err}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
