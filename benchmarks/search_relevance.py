"""Where the matches end: the F1 of search's returned set against the oracle's best threshold.

On held-out synthetic scenes (tests/relevance.py) with the pretrained tiny model (the
`pretrained_tiny` test fixture), for every query: the F1 of the photos each method returns, and the
best F1 any single threshold on the query's ranking reaches. Prints, per seed and method, mean F1
over the oracle's mean F1 (the issue's measure), side by side in one run: ours on a new library
(no_history: the built-in lexicon as rivals; no_history_no_colours: without its colour words),
with past searches (with and without the lexicon), the bank alone, and simple cuts; then the average precision
before and after marking 3 good and 3 bad photos among the top 20 of each query whose base AP is
between 0.2 and 0.8 (ours, Rocchio, and a linear probe trained on half the photos' true labels as
the ceiling of what the stored vectors hold). Usage: python benchmarks/search_relevance.py [--seeds 11 12 13]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a script from any folder
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.pretrain_tiny import pretrained_weights  # noqa: E402
from relevance import measure  # noqa: E402

from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    args = parser.parse_args()
    encoder = Encoder.load(ModelSpec(str(ROOT / "tests" / "assets" / "tiny-clip.json"), str(pretrained_weights())), "cpu")
    ratios: dict[str, list[float]] = {}
    gains: list[float] = []
    rocchio: list[float] = []
    probe: list[float] = []
    for seed in args.seeds:
        measured = measure(encoder, seed)
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
    print("mean over seeds:", {name: round(float(np.mean(r)), 3) for name, r in ratios.items()})
    print(
        f"feedback (3 good + 3 bad marks), mean AP gain over {len(gains)} queries: ours {np.mean(gains):+.3f},"
        f" Rocchio {np.mean(rocchio):+.3f}; a linear probe on 150 photos' true labels {np.mean(probe):+.3f}"
    )


if __name__ == "__main__":
    main()
