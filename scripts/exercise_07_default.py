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

import numpy as np
from pytorch_lightning import seed_everything
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from datamodules.default import load_default
from lightning_modules import make_trainer
from lightning_modules.labs import NETWORKS
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

LAB = "exercise_07"
NETWORK = NETWORKS["ex07_default"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def answer(network: float, logistic: float, null: float) -> str:
    """The exercise's comparison, in words."""
    difference = network - logistic
    if difference > 0.002:
        verdict = "better than logistic regression: the hidden layer finds something a linear boundary misses"
    else:
        how = "about as well as" if difference > -0.002 else "worse than"
        verdict = (f"{how} logistic regression: with three features whose effect on the log-odds is close to "
                   "linear, a hidden layer has nothing to add")
    return (
        f"Test accuracy: the network {network:.4f}, logistic regression {logistic:.4f} ({difference:+.4f}), "
        f"always answering No {null:.4f}. The network classifies {verdict}; both gain little over the null rule "
        f"({logistic - null:+.4f} for logistic regression), as defaults are rare."
    )


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK).parse_args(argv)
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
    runs = []
    for seed in seeds(args):
        seed_everything(seed, workers=True, verbose=False)
        datamodule = NETWORK.build_datamodule(seed=seed)
        module = NETWORK.build_module()
        trainer = make_trainer(LAB, NETWORK.name, seed=seed, **trainer_options(args))
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
        (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
        runs.append(run_record(trainer, test, seed))
    models[NETWORK.name] = over_seeds(runs)

    if trainer.is_global_zero:
        words = answer(*(models[name]["test_accuracy"] for name in (NETWORK.name, "logistic_regression", "always_no")))
        results = write_results(args.log_dir, LAB, models, figure="test_accuracy", answer=words,
                                test_rows=len(arrays.y_test), test_defaults=int(arrays.y_test.sum()))
        print(results_table([(name, "test accuracy", figures["test_accuracy"], None) for name, figures in models.items()]))
        print(words)
        figure = save_model_curves(models[NETWORK.name], "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/mlp_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
