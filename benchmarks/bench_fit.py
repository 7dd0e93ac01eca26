"""Fit wall time: nutpie versus PyMC's default NUTS on the same model, in one process.

Both samplers get the same model (the full evidence base, exponential likelihood), the same
chains, tuning and draws, and the same seed. The table reports wall time (compilation
included, as a user sees it), sampling-only time, minimum bulk ESS and ESS per second, and the
ratio of each against nutpie.

    python benchmarks/bench_fit.py [--draws 1000] [--tune 1000] [--chains 4]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

warnings.filterwarnings("ignore")


def run(sampler: str, draws: int, tune: int, chains: int, seed: int) -> dict[str, float]:
    from sequencer.bayes.config import ModelConfig, SamplerConfig
    from sequencer.bayes.data import build_model_data
    from sequencer.bayes.diagnostics import diagnose
    from sequencer.bayes.fit import sample_model
    from sequencer.bayes.model import build_pymc_model
    from sequencer.evidence.load import load_evidence

    config = ModelConfig()
    data = build_model_data(load_evidence(), config.median_event_fraction)
    start = time.perf_counter()
    model = build_pymc_model(data, config)
    if sampler == "nutpie":
        import nutpie

        compiled = nutpie.compile_pymc_model(model)
        sample_start = time.perf_counter()
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                              target_accept=SamplerConfig().target_accept, save_warmup=False,
                              progress_bar=False)
    else:
        sample_start = time.perf_counter()  # pm.sample compiles inside; counted as sampling
        config = SamplerConfig(sampler="pymc", draws=draws, tune=tune, chains=chains,
                               cores=min(chains, os.cpu_count() or 1))
        idata = sample_model(model, config, seed)
    end = time.perf_counter()
    diag = diagnose(idata)
    return {
        "wall": end - start,
        "sampling": end - sample_start,
        "min_ess_bulk": diag.worst["min_ess_bulk"],
        "max_rhat": diag.worst["max_rhat"],
        "divergences": diag.divergences,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    results = {s: run(s, args.draws, args.tune, args.chains, args.seed) for s in ("nutpie", "pymc")}
    ref = results["nutpie"]
    print(f"fit benchmark: full evidence base, {args.chains} chains x ({args.tune} tune + "
          f"{args.draws} draws), {os.cpu_count()} cores")
    print(f"{'sampler':<8} {'wall s':>8} {'sampling s':>11} {'min bulk ESS':>13} {'ESS/s':>8} "
          f"{'max R-hat':>10} {'div':>4} {'wall / nutpie':>14}")
    for name, r in results.items():
        print(f"{name:<8} {r['wall']:8.1f} {r['sampling']:11.1f} {r['min_ess_bulk']:13.0f} "
              f"{r['min_ess_bulk'] / r['wall']:8.1f} {r['max_rhat']:10.4f} {r['divergences']:4d} "
              f"{r['wall'] / ref['wall']:14.2f}")


if __name__ == "__main__":
    main()
