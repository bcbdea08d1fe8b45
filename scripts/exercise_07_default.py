"""Exercise 10.10.7: a one-hidden-layer network on ISLP's Default data, against linear logistic regression.

10,000 card holders (333 defaults) from ``student``, ``balance`` and ``income``,
standardized; a stratified third held out as the test set (``random_state=1``, as
the Hitters lab splits). The network is the Hitters lab's, with the exercise's
10 hidden units and dropout 0.1, trained on a binary target; beside it
scikit-learn's unpenalized logistic regression and the null rule that always
answers "No".

Run: python scripts/exercise_07_default.py [--max-epochs 20] [--seeds 3] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from pytorch_lightning.utilities import rank_zero_only
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from datamodules.default import load_default
from lightning_modules.exercise_answers import answer
from lightning_modules.labs import NETWORKS
from lightning_modules.parallel import for_each_seed
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import over_seeds, print_summary, train_one_seed
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options

LAB = "exercise_07"
NETWORK = NETWORKS["ex07_default"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK, parallel_seeds=True).parse_args(argv)
    prepare(args)

    # Linear logistic regression and the null rule on the same split (deterministic: fitted once).
    arrays = load_default()
    models = {}
    for name, classifier in (("logistic_regression", LogisticRegression(C=np.inf)),  # C=inf: no penalty
                             ("always_no", DummyClassifier(strategy="most_frequent"))):
        fitted = classifier.fit(arrays.X_train, arrays.y_train)
        models[name] = {"test_accuracy": float(fitted.score(arrays.X_test, arrays.y_test))}

    # The network: 3 features -> 10 ReLU units with dropout 0.1 -> one logit; BCE loss, accuracy reported.
    print_summary(NETWORK.build_network(), input_size=(NETWORK.data.init_args["batch_size"], arrays.X_train.shape[1]))
    # seed_everything, the data module, the module, make_trainer, fit and test: the lab's steps, once per seed
    # (several at once on a CPU with cores to spare)
    train = partial(train_one_seed, NETWORK, LAB, **trainer_options(args))
    models[NETWORK.name] = over_seeds(for_each_seed(train, seeds(args), **seed_jobs(args)))

    if rank_zero_only.rank == 0:
        counts = {"test_rows": len(arrays.y_test), "test_defaults": int(arrays.y_test.sum())}
        words = answer(LAB, {"models": models, **counts})
        results = write_results(args.log_dir, LAB, models, figure="test_accuracy", answer=words, **counts)
        print(results_table([(name, "test accuracy", figures["test_accuracy"], None) for name, figures in models.items()]))
        print(words)
        figure = save_model_curves(models[NETWORK.name], "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/mlp_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
