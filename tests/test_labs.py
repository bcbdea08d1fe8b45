"""Each lab's book settings live in lightning_modules/labs.py: the lab scripts, the CLI configs and the
benchmark all build exactly what they say, so a change there reaches all of them and nothing can drift."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT, load_script
from pytorch_lightning import Trainer

from datamodules.base import InMemoryDataModule
from lightning_modules.cli import LabCLI
from lightning_modules.labs import LABS, NETWORKS, book_figures
from lightning_modules.module import SimpleModule

write_configs = load_script("write_configs")
benchmark = load_script("benchmark")


def built_as(settings, module, datamodule, max_epochs) -> dict:
    """What was built, in the settings' own terms."""
    return {
        "network": f"{type(module.model).__module__}.{type(module.model).__name__}",
        "data": f"{type(datamodule).__module__.replace('.datamodule', '')}.{type(datamodule).__name__}",
        **{f"data.{name}": getattr(datamodule, name) for name in settings.data.init_args},
        "task": module.hparams.task,
        "num_classes": module.hparams.num_classes,
        "metrics": list(module.test_metrics.keys()),
        "optimizer": type(module.configure_optimizers()).__name__,
        "lr": module.configure_optimizers().param_groups[0]["lr"],
        "epochs": max_epochs,
    }


def expected(settings) -> dict:
    return {
        "network": settings.network.class_path,
        "data": settings.data.class_path,
        **{f"data.{name}": value for name, value in settings.data.init_args.items()},
        "task": settings.task,
        "num_classes": settings.num_classes,
        "metrics": [settings.metric],
        "optimizer": settings.optimizer,
        "lr": settings.lr,
        "epochs": settings.epochs,
    }


@pytest.mark.parametrize("key", NETWORKS)
def test_each_config_file_is_generated_from_the_settings(key):
    path = ROOT / "scripts" / "configs" / f"{key}.yaml"
    assert path.read_text() == write_configs.config_text(key), (
        f"{path} differs from lightning_modules/labs.py: run python scripts/write_configs.py"
    )


@pytest.mark.parametrize("key", NETWORKS)
def test_the_cli_builds_what_the_settings_say(key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = ROOT / "scripts" / "configs" / f"{key}.yaml"
    cli = LabCLI(
        SimpleModule, InMemoryDataModule, subclass_mode_data=True, run=False,
        args=["--config", str(config), "--trainer.logger", "false", "--trainer.accelerator", "cpu"],
    )
    settings = NETWORKS[key]
    assert built_as(settings, cli.model, cli.datamodule, cli.trainer.max_epochs) == expected(settings)
    assert yaml.safe_load(config.read_text())["trainer"]["logger"]["init_args"] == {
        "save_dir": f"logs/{settings.lab}", "name": settings.name
    }


class Built(Exception):
    """Raised in place of training, once the last network of a script is built."""


@pytest.mark.parametrize("lab", [name for name, lab in LABS.items() if lab.networks])
def test_each_lab_script_builds_what_the_settings_say(lab, tmp_path, monkeypatch):
    built = []

    def capture(trainer, module, datamodule=None, **kwargs):
        built.append((module, datamodule, trainer))
        if len(built) == len(LABS[lab].networks):
            raise Built

    script = load_script(LABS[lab].script.removesuffix(".py"))
    monkeypatch.setattr(Trainer, "fit", capture)
    monkeypatch.setattr(Trainer, "test", lambda *args, **kwargs: [{}])
    argv = ["--log-dir", str(tmp_path), "--accelerator", "cpu"]
    if LABS[lab].downloads:
        argv += ["--synthetic", "--limit", "50", "--data-dir", str(tmp_path / "data")]
    with pytest.raises(Built):
        script.main(argv)
    for key, (module, datamodule, trainer) in zip(LABS[lab].networks, built):
        settings = NETWORKS[key]
        assert built_as(settings, module, datamodule, trainer.max_epochs) == expected(settings)
        assert (settings.lab, settings.name) == tuple(trainer.logger.log_dir.split("/")[-3:-1])


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
    assert built_as(settings, module, datamodule, settings.epochs) == expected(settings)


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
