"""What every experiment script in examples/ shares: the command line, the output folder,
the JSON result, the plot file and the verdict.

Each experiment is ``python examples/<name>.py [--quick] [--out DIR] [--seed N]``:
``--quick`` is the smoke run CI uses (under a minute, on a slice of the data, numbers not
meaningful); the full run is the one whose figures examples/README.md quotes. Results go
to ``DIR/result.json`` (``{"experiment", "quick", "wall_s", "claim", "verdict", ...}``) and
``DIR/*.png``; the verdict is printed last.
"""

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["experiment_args", "Experiment", "load_fashion", "finite"]


def experiment_args(description, argv=None, extra=None):
    """Parse ``--quick``, ``--out`` (default ``runs/examples/<script name>``) and ``--seed``."""
    p = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run (under a minute, for CI)")
    p.add_argument("--out", default=None, help="output folder (default runs/examples/<name>)")
    p.add_argument("--seed", type=int, default=0)
    if extra:
        extra(p)
    return p.parse_args(argv)


class Experiment:
    """Collects an experiment's numbers, writes ``result.json`` and plots, prints the verdict.

    >>> exp = Experiment("degradation", args, claim="...")
    >>> exp.result["runs"] = {...}
    >>> exp.save_plot(fig, "curves.png")
    >>> exp.finish("The 56-layer plain net trains worse: confirmed.")
    """

    def __init__(self, name, args, claim):
        import keras

        self.name = name
        self.quick = bool(args.quick)
        self.out = args.out or os.path.join("runs", "examples", name)
        os.makedirs(self.out, exist_ok=True)
        self.start = time.time()
        self.result = {"experiment": name, "quick": self.quick, "seed": args.seed, "claim": claim}
        keras.utils.set_random_seed(args.seed)

    def save_plot(self, fig, filename):
        import matplotlib.pyplot as plt

        path = os.path.join(self.out, filename)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        self.result.setdefault("plots", []).append(filename)
        return path

    def finish(self, verdict):
        self.result["verdict"] = verdict
        self.result["wall_s"] = round(time.time() - self.start, 1)
        if not finite(self.result):
            raise ValueError(f"{self.name}: a measured number is not finite: {self.result}")
        path = os.path.join(self.out, "result.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.result, f, indent=2)
        os.replace(path + ".tmp", path)
        print(f"\n{self.name}{' (quick run: numbers not meaningful)' if self.quick else ''}: "
              f"{self.result['wall_s']} s; wrote {path}" +
              "".join(f", {os.path.join(self.out, p)}" for p in self.result.get("plots", [])))
        print(f"claim:   {self.result['claim']}")
        print(f"verdict: {verdict}")
        return self.result


def load_fashion(train=None, test=None, seed=0):
    """Fashion-MNIST (Debian package) as uint8 ``(n, 28, 28, 1)``; optional stratified-enough
    random subsets of ``train``/``test`` images (shuffled with ``seed``)."""
    import numpy as np

    from kerasarch.data import load_fashion_mnist

    (x, y), (xt, yt) = load_fashion_mnist()
    rng = np.random.default_rng(seed)
    if train is not None:
        idx = rng.permutation(len(x))[:train]
        x, y = x[idx], y[idx]
    if test is not None:
        idx = rng.permutation(len(xt))[:test]
        xt, yt = xt[idx], yt[idx]
    return (x, y), (xt, yt)


def finite(node):
    """True when every number in a nested dict/list is finite."""
    if isinstance(node, dict):
        return all(finite(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return all(finite(v) for v in node)
    if isinstance(node, float):
        return math.isfinite(node)
    return True
