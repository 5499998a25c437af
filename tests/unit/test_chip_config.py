"""The chip description (``chip:`` config section, ``--set chip.KEY``, chip files): defaults
cited, overrides, dump and reload, and its one-line errors (unknown key with the closest one,
non-positive unit costs, an ADC model without its parameters), exit code 2 on the CLI."""

import dataclasses

import pytest
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import ChipConfig, dump_yaml, from_dict, load_chip_file, load_config
from analog_ep.config.describe import describe
from analog_ep.errors import ConfigError


def test_chip_section_defaults_overrides_and_round_trip():
    cfg = load_config(None, ["chip.adc_model=neurosim_sar", "chip.adc_bits=6", "chip.gpu=h100_sxm",
                             "chip.adc_table_energy_j=[1e-12, 2e-12, 3e-12, 4e-12, 5e-12]"])
    assert cfg.chip.adc_model == "neurosim_sar" and cfg.chip.adc_bits == 6 and cfg.chip.gpu == "h100_sxm"
    assert cfg.chip.adc_table_energy_j == [1e-12, 2e-12, 3e-12, 4e-12, 5e-12]
    again = from_dict(yaml.safe_load(dump_yaml(cfg)))
    assert again.chip == cfg.chip
    assert load_config(None, []).chip == ChipConfig()
    # an older stored config without the section loads with the defaults
    data = yaml.safe_load(dump_yaml(cfg))
    del data["chip"]
    assert from_dict(data).chip == ChipConfig()


def test_every_chip_key_is_documented_with_units_and_a_source():
    rows = {r[0]: r for r in describe() if r[0].startswith("chip.")}
    assert {f"chip.{f.name}" for f in dataclasses.fields(ChipConfig)} == set(rows)
    for key, (_, _, _, doc) in rows.items():
        assert doc, key
    # every default names its section in hardware_costs.md, or says it is our own assumption
    uncited = {k for k, r in rows.items() if "hardware_costs.md" not in r[3]}
    assert uncited == {"chip.digital_lanes"} and "[inferred]" in rows["chip.digital_lanes"][3]


@pytest.mark.parametrize("overrides,msg", [
    (["chip.adc_modle=survey"], "--set chip.adc_modle: unknown key 'chip.adc_modle'; did you mean chip.adc_model? "
                                "valid keys: chip.node_nm"),
    (["chip.e_add_j=0"], "chip.e_add_j: must be > 0 (a unit cost"),
    (["chip.e_driver_j=-1e-13"], "chip.e_driver_j: must be > 0"),
    (["chip.leakage_w_per_tile=0.0"], "chip.leakage_w_per_tile: must be > 0"),
    (["chip.adc_table_energy_j=[1e-12, 0, 1e-12, 1e-12, 1e-12]"], "chip.adc_table_energy_j: must be > 0 for every entry"),
    (["chip.adc_model=survey", "chip.adc_fom_j=null"],
     "chip.adc_fom_j: missing (null), and chip.adc_model survey prices a conversion with it"),
    (["chip.adc_model=neurosim_sar", "chip.adc_sar_p1_w=null"],
     "chip.adc_sar_p1_w: missing (null), and chip.adc_model neurosim_sar prices"),
    (["chip.adc_table_energy_j=null"], "chip.adc_table_energy_j: missing (null), and chip.adc_model table prices"),
    (["chip.adc_table_area_um2=[1.0]"], "chip.adc_table_area_um2: must list one value per entry of chip.adc_table_bits"),
    (["chip.adc_table_bits=[5, 4]"], "chip.adc_table_bits: must be a strictly increasing list"),
    (["chip.adc_envelope_j=[1e-12]"], "chip.adc_envelope_j: must be two energies"),
    (["chip.input_activity=0"], "chip.input_activity: must be in (0, 1]"),
    (["chip.gpu_eta=1.5"], "chip.gpu_eta: must be in (0, 1]"),
    (["chip.cols_per_adc=0"], "chip.cols_per_adc: must be an integer >= 1"),
    (["chip.adc_model=flash"], "chip.adc_model: invalid value 'flash'; valid: table, neurosim_sar, survey"),
])
def test_bad_chip_values_are_one_line(overrides, msg):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert str(e.value).startswith(msg), str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_chip_key_in_a_config_file_names_the_file_and_the_closest_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("chip:\n  cols_per_ad: 4\n")
    with pytest.raises(ConfigError, match=rf"^{f}: chip.cols_per_ad: unknown key; did you mean chip.cols_per_adc\? "):
        load_config(f)
    f.write_text("chip:\n  t_read_s: 0\n")
    with pytest.raises(ConfigError, match=rf"^{f}: chip.t_read_s: must be > 0"):
        load_config(f)


def test_chip_file(tmp_path):
    f = tmp_path / "chip.yaml"
    f.write_text("adc_model: survey\nadc_bits: 6\n")
    data = load_chip_file(f)
    assert data == {"chip": {"adc_model": "survey", "adc_bits": 6}}
    assert load_config(None, ["chip.adc_bits=7"], base=data).chip.adc_bits == 7  # --set on top
    f.write_text("chip:\n  update_scheme: parallel\n")
    assert load_chip_file(f) == {"chip": {"update_scheme": "parallel"}}
    for body, msg in (("adc_modl: survey\n", "chip.adc_modl: unknown key; did you mean chip.adc_model?"),
                      ("e_mult_j: -1.0\n", "chip.e_mult_j: must be > 0"),
                      ("adc_model: neurosim_sar\nadc_sar_p0_w: null\n", "chip.adc_sar_p0_w: missing (null)"),
                      ("[1, 2]\n", "top level must be a mapping of chip keys"),
                      ("adc_model: [\n", "invalid YAML at line")):
        f.write_text(body)
        with pytest.raises(ConfigError) as e:
            load_chip_file(f)
        assert str(e.value).startswith(f"{f}: ") and msg in str(e.value), str(e.value)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="nope.yaml: chip file not found; pass an existing YAML file to --chip"):
        load_chip_file(tmp_path / "nope.yaml")


def test_bad_chip_key_exits_2_with_one_line(tmp_path):
    res = CliRunner().invoke(app, ["train", "--set", "chip.adc_modle=survey", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "did you mean chip.adc_model?" in lines[0]
    assert not (tmp_path / "run").exists()
