"""Write ``scripts/configs/<network>.yaml``, the ``islp-lab`` configs, from the book's settings.

    python scripts/write_configs.py          # after changing lightning_modules/labs.py

The settings live in ``lightning_modules/labs.py``; these files are generated
from them (``tests/test_labs.py`` fails when they differ), so the CLI, the lab
scripts and the benchmark cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from lightning_modules.labs import EXERCISES, LABS, NETWORKS, cli_config

CONFIGS = Path(__file__).resolve().parent / "configs"

#: further usage lines shown at the top of a config
USAGE: dict[str, list[str]] = {
    "hitters": ["then: islp-lab test --config scripts/configs/hitters.yaml --ckpt_path <log dir>/checkpoints/last.ckpt"],
    "cifar100_cnn": ["on a GPU: add --trainer.accelerator cuda"],
    "imdb_dense": [
        "score reviews of your own with a trained network (one printed probability per review):",
        "islp-lab predict --config scripts/configs/imdb_dense.yaml --ckpt_path <log dir>/checkpoints/last.ckpt \\",
        "  --data.init_args.predict_texts '[\"A wonderful film.\", \"Dull and far too long.\"]'",
    ],
}


def config_text(key: str) -> str:
    """The YAML of one network's config, with a header saying where it comes from."""
    settings = NETWORKS[key]
    title = next(lab.title for lab in (*LABS.values(), *EXERCISES.values()) if key in lab.networks)
    config = cli_config(key)
    network_class = settings.network.resolve()
    description = (network_class.__doc__ or "").strip().splitlines()[0]
    header = [
        f"{title}. {network_class.__name__}: {description}",
        "Generated from lightning_modules/labs.py by scripts/write_configs.py: change the settings there.",
        f"islp-lab fit --config scripts/configs/{key}.yaml",
    ]
    if "synthetic" in config["data"].get("init_args", {}):
        header.append("offline, on synthetic data of the real shapes: add --data.init_args.synthetic true")
    header += USAGE.get(key, [])
    body = yaml.safe_dump(config, sort_keys=False)
    return "".join(f"# {line}\n" for line in header) + body


def main() -> int:
    CONFIGS.mkdir(exist_ok=True)
    for key in NETWORKS:
        path = CONFIGS / f"{key}.yaml"
        path.write_text(config_text(key))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
