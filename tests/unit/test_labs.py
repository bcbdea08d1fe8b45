"""One setting, one home a reader edits: the lab and exercise scripts. Two copies are checked against them
here: the CLI's YAML configs (``scripts/configs/``) and the book's record in ``lightning_modules/chapter/labs.py``
(the book's figures and settings, each with its cell, which the benchmark and the chapter run read). Each
network is built from its script and from its YAML, and a batch size, learning rate, epoch count or layer
that differs fails, naming both places."""

from __future__ import annotations

import pytest
import yaml
from helpers import ROOT, load_script
from pytorch_lightning import Trainer

from datamodules.base import InMemoryDataModule
from lightning_modules.chapter.labs import EXERCISES, LABS, NETWORKS, book_figures
from lightning_modules.module import SimpleModule
from lightning_modules.runner.cli import LabCLI

benchmark = load_script("benchmark")
SCRIPTED = {name: lab for name, lab in {**LABS, **EXERCISES}.items() if lab.networks}


def built_as(module, datamodule, max_epochs, data_settings) -> dict:
    """What was built, in the book's record's terms (``data_settings``: the data arguments it records)."""
    return {
        "network": f"{type(module.model).__module__}.{type(module.model).__name__}",
        "layers": layers(module.model),
        "data": f"{type(datamodule).__module__.replace('.datamodule', '')}.{type(datamodule).__name__}",
        **{f"data.{name}": getattr(datamodule, name) for name in data_settings},
        "task": module.hparams.task,
        "num_classes": module.hparams.num_classes,
        "metrics": list(module.test_metrics.keys()),
        "optimizer": type(module.configure_optimizers()).__name__,
        "lr": module.configure_optimizers().param_groups[0]["lr"],
        "epochs": max_epochs,
        "parameters": sum(parameter.numel() for parameter in module.model.parameters()),
    }


def layers(network) -> list[str]:
    """The network's layers, one line each: ``sequential.2: Dropout(p=0.4, inplace=False)``."""
    return [f"{name}: {layer!r}" for name, layer in network.named_modules() if not list(layer.children())]


def expected(settings) -> dict:
    return {
        "network": settings.network.class_path,
        "layers": layers(settings.build_network()),
        "data": settings.data.class_path,
        **{f"data.{name}": value for name, value in settings.data.init_args.items()},
        "task": settings.task,
        "num_classes": settings.num_classes,
        "metrics": [settings.metric],
        "optimizer": settings.optimizer,
        "lr": settings.lr,
        "epochs": settings.epochs,
        # the book's printed count where the record has it, else the record's network's own
        "parameters": settings.parameters or sum(parameter.numel() for parameter in settings.build_network().parameters()),
    }


def disagreements(places: dict[str, dict]) -> list[str]:
    """Each setting on which the places differ, with what each place says."""
    (first, reference), *others = places.items()
    lines = []
    for name in reference:
        values = {place: built.get(name) for place, built in places.items()}
        if any(value != reference[name] for value in values.values()):
            if name == "layers":  # only the layers that are not in every place
                common = set.intersection(*(set(value) for value in values.values()))
                values = {place: [layer for layer in value if layer not in common] for place, value in values.items()}
            said = "; ".join(f"{place} says {value!r}" for place, value in values.items())
            lines.append(f"{name}: {said}")
    return lines


class Built(Exception):
    """Raised in place of training, once the last network of a script is built."""


def built_by_script(lab: str, tmp_path, monkeypatch) -> dict[str, dict]:
    """Each network a lab or exercise script builds (run up to its last ``fit``), by its key in the record."""
    built = []

    def capture(trainer, module, datamodule=None, **kwargs):
        built.append((module, datamodule, trainer))
        if len(built) == len(SCRIPTED[lab].networks):
            raise Built

    script = load_script(SCRIPTED[lab].script.removesuffix(".py"))
    monkeypatch.setattr(Trainer, "fit", capture)
    monkeypatch.setattr(Trainer, "test", lambda *args, **kwargs: [{}])
    argv = ["--log-dir", str(tmp_path), "--accelerator", "cpu"]
    if SCRIPTED[lab].downloads:
        argv += ["--synthetic", "--limit", "50", "--data-dir", str(tmp_path / "data")]
    with pytest.raises(Built):
        script.main(argv)
    by_key = {}
    for module, datamodule, trainer in built:
        lab_folder, name = trainer.logger.log_dir.split("/")[-3:-1]
        key = next(key for key in SCRIPTED[lab].networks if (NETWORKS[key].lab, NETWORKS[key].name) == (lab_folder, name))
        by_key[key] = built_as(module, datamodule, trainer.max_epochs, NETWORKS[key].data.init_args)
    assert sorted(by_key) == sorted(SCRIPTED[lab].networks), f"{SCRIPTED[lab].script} trains other networks"
    return by_key


def built_by_config(key: str, tmp_path, monkeypatch) -> dict:
    tmp_path.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    config = ROOT / "scripts" / "configs" / f"{key}.yaml"
    cli = LabCLI(
        SimpleModule, InMemoryDataModule, subclass_mode_data=True, run=False,
        args=["--config", str(config), "--trainer.logger", "false", "--trainer.accelerator", "cpu"],
    )
    settings = NETWORKS[key]
    assert yaml.safe_load(config.read_text())["trainer"]["logger"]["init_args"] == {
        "save_dir": f"logs/{settings.lab}", "name": settings.name
    }, f"{config} logs elsewhere than scripts/{SCRIPTED[next(lab for lab in SCRIPTED if key in SCRIPTED[lab].networks)].script}"
    return built_as(cli.model, cli.datamodule, cli.trainer.max_epochs, settings.data.init_args)


@pytest.mark.parametrize("lab", SCRIPTED)
def test_each_script_its_config_and_the_books_record_agree(lab, tmp_path, monkeypatch):
    from_scripts = built_by_script(lab, tmp_path / "script", monkeypatch)
    problems = []
    for key, from_script in from_scripts.items():
        places = {
            f"scripts/{SCRIPTED[lab].script}": from_script,
            f"scripts/configs/{key}.yaml": built_by_config(key, tmp_path / key, monkeypatch),
            f"the book's record (lightning_modules/chapter/labs.py, NETWORKS[{key!r}])": expected(NETWORKS[key]),
        }
        problems += [f"{key}: {line}" for line in disagreements(places)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", [key for key, settings in NETWORKS.items() if settings.timing])
def test_the_benchmark_times_what_the_settings_say(key, tmp_path, monkeypatch):
    built = []

    def capture(trainer, module, datamodule=None, **kwargs):
        built.append((module, datamodule))
        raise Built

    monkeypatch.setattr(Trainer, "fit", capture)
    settings = NETWORKS[key]
    options = benchmark.Options(settings.epochs, str(tmp_path), str(tmp_path), limit=settings.timing.quick_limit)
    with pytest.raises(Built):
        benchmark.run_ours(settings, options)
    (module, datamodule), = built
    built, book = built_as(module, datamodule, settings.epochs, settings.data.init_args), expected(settings)
    built.pop("parameters"), book.pop("parameters")  # the record's network against the book's count: the test above
    assert built == book


def test_every_lab_reports_the_books_figure_of_each_network():
    for name, lab in LABS.items():
        figures = book_figures(name)
        assert all(NETWORKS[key].name in figures for key in lab.networks)


def test_each_data_modules_defaults_are_the_books_settings_written_in_labs():
    """A data module's defaults (for the CLI, notebooks, ``MNISTDataModule()``) repeat the book's settings of
    labs.py: they must say the same. A class that serves several labs (IMDB, NYSE) defaults to its first
    lab's settings; a later lab sets its own (the LSTM's sequences of batch 300, NYSE's flat layout)."""
    import inspect

    first_lab = {}
    for settings in NETWORKS.values():
        first_lab.setdefault(settings.data.class_path, settings.data)
    for class_path, component in first_lab.items():
        parameters = inspect.signature(component.resolve()).parameters
        defaults = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
        differing = {
            name: {"default": defaults[name], "labs.py": value}
            for name, value in component.init_args.items()
            if name in defaults and defaults[name] != value
        }
        assert not differing, f"{class_path}'s defaults differ from the book's settings in labs.py: {differing}"
