"""Statistics of the report: mean ± std over seeds, paired comparisons between variants and the Q8
sweep as a grid."""

from __future__ import annotations

import numpy as np
from scipy import stats

SIGNIFICANCE = 0.05


def values(results: list[dict], key: str) -> dict[int, float]:
    """{seed: summary[key]} of a variant's runs."""
    return {r["seed"]: r["summary"][key] for r in results}


def mean_std(xs) -> tuple[float, float]:
    xs = np.asarray(list(xs), float)
    return float(xs.mean()), float(xs.std(ddof=1)) if len(xs) > 1 else 0.0


def best_by_mean(variants: dict[str, list[dict]], key: str) -> str:
    """The label of the variant whose runs have the highest mean ``summary[key]``."""
    return max(variants, key=lambda label: mean_std(values(variants[label], key).values())[0])


def pct(results: list[dict], key: str = "test_accuracy") -> str:
    """'99.15 ± 0.05' (percent, mean ± sample std over seeds)."""
    mean, std = mean_std(values(results, key).values())
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if len(results) > 1 else f"{100 * mean:.2f}"


def seconds(results: list[dict]) -> str:
    """Mean wall time of a run's epochs (training and validation) plus compilation, seconds."""
    mean, _ = mean_std(
        r["summary"]["train_seconds"] + r["summary"]["compile_seconds"] for r in results
    )
    return f"{mean:.0f}"


def sweep_grid(variants: dict[str, list[dict]], key: str) -> tuple[list, list, np.ndarray]:
    """(learning rates, batch sizes, grid) of a sweep: grid[i, j] is the mean over seeds of
    ``summary[key]`` for learning rate i and batch size j (read from each run's config); NaN where
    that pair was not run."""
    means = {}
    for runs in variants.values():
        lr, batch = runs[0]["config"]["learning_rate"], runs[0]["config"]["batch_size"]
        means[lr, batch] = np.mean([r["summary"][key] for r in runs])
    lrs, batches = sorted({lr for lr, _ in means}), sorted({b for _, b in means})
    grid = np.full((len(lrs), len(batches)), np.nan)  # (learning rates, batch sizes)
    for (lr, batch), mean in means.items():
        grid[lrs.index(lr), batches.index(batch)] = mean
    return lrs, batches, grid


def compare(a: list[dict], b: list[dict], key: str) -> dict:
    """Paired comparison of two variants over the seeds they share (same seed: same train/validation
    split and data order; the same initialisation where the architectures agree).

    Criterion: the difference exceeds seed-to-seed noise when a paired t-test
    over the seeds gives p < 0.05 (two-sided). With three seeds that takes a
    large difference relative to its spread across seeds.
    """
    va, vb = values(a, key), values(b, key)
    seeds = sorted(set(va) & set(vb))
    diffs = np.array([va[s] - vb[s] for s in seeds])
    result = {
        "seeds": seeds,
        "diffs": diffs.tolist(),
        "mean_diff": float(diffs.mean()) if len(diffs) else float("nan"),
        "p": None,  # untested: one seed, or the same difference on every seed (t undefined)
        "exceeds_noise": None,
    }
    if len(diffs) > 1 and np.any(diffs != diffs[0]):
        p = float(stats.ttest_rel([va[s] for s in seeds], [vb[s] for s in seeds]).pvalue)
        result |= {"p": p, "exceeds_noise": p < SIGNIFICANCE}
    return result


def verdict(comparison: dict, a: str, b: str) -> str:
    diff = 100 * comparison["mean_diff"]
    per_seed = ", ".join(f"{100 * d:+.2f}" for d in comparison["diffs"])
    head = f"{a} − {b}: {diff:+.2f} points (per seed: {per_seed})"
    if comparison["p"] is None and len(comparison["diffs"]) < 2:
        return f"{head}; one seed only, so no estimate of the noise."
    if comparison["p"] is None:
        return f"{head}; the same difference on every seed, so the t-test is undefined: untested."
    if comparison["exceeds_noise"]:
        return (
            f"{head}; paired t-test p = {comparison['p']:.3g} < {SIGNIFICANCE}: "
            "the difference exceeds seed-to-seed noise."
        )
    return (
        f"{head}; paired t-test p = {comparison['p']:.3g} ≥ {SIGNIFICANCE}: "
        "within seed-to-seed noise."
    )
