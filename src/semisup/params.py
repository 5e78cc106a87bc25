"""Regenerate params.yaml from conf/ with Hydra's public compose API, as `dvc exp run -S ...` composes it.

    semisup params [OVERRIDE ...]     # e.g. profile=paper labeled.strategy=random
    semisup params --reference        # docs/parameters.md from conf/ (`params_reference`), params.yaml untouched

The output is byte-identical to what DVC's Hydra support writes (a test checks it), so switching between the two
never shows as a change of params.yaml.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ConfigError
from .files import write_text


def compose(output: Path, conf_dir: Path, overrides: list[str]) -> None:
    import yaml
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
            config = hydra_compose(config_name="config", overrides=overrides)
    except HydraException as exc:
        raise ConfigError(f"{conf_dir}: cannot compose params ({' '.join(overrides) or 'no overrides'}): "
                          f"{str(exc).splitlines()[0]}") from None
    composed = OmegaConf.to_container(config, resolve=True)
    from .parameters import params_from_dict

    params_from_dict(composed, data_present=False)  # never write a value no stage accepts; the photos may come later
    write_text(output, yaml.safe_dump(composed, sort_keys=False))


REFERENCE = Path("docs/parameters.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. profile=paper seed=1")
    parser.add_argument("--reference", nargs="?", type=Path, const=REFERENCE, default=None, metavar="PATH",
                        help=f"write the parameter reference (every key, its default, meaning and each profile's "
                             f"value) to PATH (default {REFERENCE}) instead of params.yaml")


def run(args: argparse.Namespace) -> None:
    if getattr(args, "reference", None) is not None:
        if args.overrides:
            raise ConfigError("semisup params --reference takes no overrides: it documents conf/ as it is")
        from .params_reference import write_reference

        write_reference(args.reference, Path("conf"))
        print(f"wrote {args.reference}")
        return
    compose(Path("params.yaml"), Path("conf"), args.overrides)
    print(Path("params.yaml").read_text(), end="")


if __name__ == "__main__":
    from .cli import run_stage

    parser = argparse.ArgumentParser(prog="semisup params", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run_stage(lambda: run(parser.parse_args(sys.argv[1:])))
