"""Where the matches end: the F1 of search's returned set against the oracle's best threshold.

On held-out synthetic scenes (tests/relevance.py) with the pretrained tiny model (the
`pretrained_tiny` test fixture), for every query: the F1 of the photos each method returns, and the
best F1 any single threshold on the query's ranking reaches. Prints, per seed and method, mean F1
over the oracle's mean F1 (the issue's measure), side by side in one run: ours on a new library
(no_history: the built-in lexicon as rivals; no_history_no_colours: without its colour words),
with past searches (with and without the lexicon), the bank alone, and simple cuts; then the average precision
before and after marking 3 good and 3 bad photos among the top 20 of each query whose base AP is
between 0.2 and 0.8 (ours, Rocchio, and a linear probe trained on half the photos' true labels as
the ceiling of what the stored vectors hold). --weights picks the pretrained base(s): generic (the
default) and/or pairs (`pretrained-tiny-pairs`, which knows attributes better); --feedback-only skips
the cuts. Usage: python benchmarks/search_relevance.py [--seeds 11 12 13] [--weights generic pairs] [--feedback-only]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a script from any folder
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.pretrain_tiny import GENERIC, PAIRS, pretrained_weights  # noqa: E402
from relevance import measure  # noqa: E402

from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402

BASES = {"generic": GENERIC, "pairs": PAIRS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--weights", nargs="+", choices=sorted(BASES), default=["generic"])
    parser.add_argument("--feedback-only", action="store_true", help="skip the cuts; measure feedback only")
    args = parser.parse_args()
    for base in args.weights:
        print(f"== base {base} ==")
        report(base, args.seeds, cuts=not args.feedback_only)


def report(base: str, seeds: list[int], cuts: bool) -> None:
    config = str(ROOT / "tests" / "assets" / "tiny-clip.json")
    encoder = Encoder.load(ModelSpec(config, str(pretrained_weights(BASES[base]))), "cpu")
    ratios: dict[str, list[float]] = {}
    gains: list[float] = []
    rocchio: list[float] = []
    probe: list[float] = []
    for seed in seeds:
        measured = measure(encoder, seed, cuts=cuts)
        print(f"seed {seed}: true matches per query {dict(zip(measured.queries, measured.positives, strict=True))}")
        for name, outcome in measured.methods.items():
            ratios.setdefault(name, []).append(outcome.ratio)
            print(
                f"  {name:16s} F1/oracle {outcome.ratio:.3f}  (mean F1 {np.mean(outcome.f1):.3f},"
                f" oracle {np.mean(outcome.oracle):.3f})  per query {np.round(outcome.f1, 2).tolist()}"
            )
        for f in measured.feedback:
            gains.append(f.after - f.before)
            rocchio.append(f.rocchio - f.before)
            probe.append(f.probe_gain)
            print(
                f"  feedback {f.query!r}: AP {f.before:.3f} -> ours {f.after:.3f}, Rocchio {f.rocchio:.3f};"
                f" probe on 150 true labels {f.probe_gain:+.3f}"
            )
    if ratios:
        print("mean over seeds:", {name: round(float(np.mean(r)), 3) for name, r in ratios.items()})
    print(
        f"[{base}] feedback (3 good + 3 bad marks), mean AP gain over {len(gains)} queries: ours {np.mean(gains):+.3f},"
        f" Rocchio {np.mean(rocchio):+.3f}; a linear probe on 150 photos' true labels {np.mean(probe):+.3f}"
    )

if __name__ == "__main__":
    main()
