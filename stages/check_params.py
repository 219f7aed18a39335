"""Stage check_params: refuse a params.yaml holding a key or value no stage accepts.

Usage: python -m stages.check_params PARAMS_YAML PRESETS_DIR DVC_YAML   (reads the whole file;
PRESETS_DIR: conf/preset, the presets a `setup` may name; DVC_YAML: the pipeline, whose stages'
params must all be in the file)

Every stage checks the whole file when it runs, but a key that no stage lists (a typo added
with `dvc exp run -S +budgt=0.9`, as Hydra's own hint for `-S budgt=0.9` suggests) changes no
stage's params: without this stage nothing would run, and the experiment would "succeed".
It also builds the model on PyTorch's meta device, so size options its builder refuses fail
here, before any data is downloaded (`eenet.config.check_model_build`). A `setup` naming a
preset of PRESETS_DIR must run that preset's dataset and model (`-S setup=resnet56_3` alone
labelled the default run so). Every key a stage of DVC_YAML lists must be in the file: DVC
fails a stage whose param is missing only when it reaches it, after training (a `budget` left
out, `-S '~budget'`), here it fails first (`eenet.listed_params`).
"""

from eenet.cli import stage_cli, stage_start

with stage_start():
    from eenet.config import check_model_build, check_setup_label
    from eenet.listed_params import check_listed_params, listed_params
    from eenet.params import read_params


def main(params_yaml: str, presets_dir: str, dvc_yaml: str) -> None:
    params = read_params(params_yaml)
    check_listed_params(params, listed_params(dvc_yaml))  # DVC stops at a missing one late
    check_model_build(params)  # the model's size options, on the meta device
    check_setup_label(params, presets_dir)
    print(f"{params_yaml}: every key and value checked ({len(params)} top-level entries)")


if __name__ == "__main__":
    stage_cli(main, __doc__)
